"""`vigil cluster ...`: cluster mode's operations (issue #19). `status` reads the maintainer's record in the database
(nodes, cameras per node, lag, what moved and why); it needs no Ray connection."""
from __future__ import annotations

import json
from typing import Optional
from pathlib import Path

import typer

from vigil.cli_users import ConfigOpt, DbOpt, _session

cluster_app = typer.Typer(help="Cluster mode on Ray: nodes, cameras per node, moves", no_args_is_help=True)


@cluster_app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json", help="The report as one JSON object"),
               moves: int = typer.Option(20, "--moves", min=0, max=10000, help="How many recent moves to list"),
               config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Nodes (alive, cameras held, capacity, lag of their cameras), cameras without a node, recent moves and why."""
    from vigil.cluster.report import cluster_report, report_lines

    with _session(config, db) as s:
        rep = cluster_report(s, moves)
    if as_json:
        typer.echo(json.dumps(rep, ensure_ascii=False))
        return
    if not rep["nodes"]:
        typer.echo("no cluster on record: this database's service runs on one box (`vigil serve --cluster ADDRESS`)")
        return
    for line in report_lines(rep):
        typer.echo(line)
