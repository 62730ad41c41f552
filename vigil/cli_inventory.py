"""`vigil inventory ...`: the inventory (institutions, cameras, zones, rules) between a config file and the database.

`import FILE` upserts the file's `institutions` and `cameras` into the database of `--config` (or `--db URL`), says
what was added, changed and removed, and with `--prune` removes what the file does not name. `export` writes the
inventory as YAML that `vigil config check` accepts; passwords in stream URLs are `***` unless `--with-secrets`.
Every change is written to the audit log as done by `cli`. A running service picks up the API's changes at once;
one made here reaches it at its next start (or the next change made through the API).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vigil.cli_errors import fail
from vigil.cli_users import ConfigOpt, DbOpt, _actor, _session

inventory_app = typer.Typer(help="Institutions and cameras in the database: import from / export to YAML",
                            no_args_is_help=True)


@inventory_app.command("import")
def import_cmd(file: Path = typer.Argument(..., help="Config YAML whose institutions and cameras are imported"),
               prune: bool = typer.Option(False, "--prune", help="Also remove the cameras, institutions and regions "
                                                                 "the file does not name"),
               dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; change nothing"),
               as_json: bool = typer.Option(False, "--json", help="The report as one JSON object"),
               config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Upsert institutions, cameras, zones and rules from a config file (validated as `vigil config check` does)."""
    from vigil.cli_errors import load_config_or_exit
    from vigil.inventory import InventoryError
    from vigil.inventory_sync import import_inventory

    source = load_config_or_exit(file)
    with _session(config, db) as s:
        try:
            rep = import_inventory(s, source.institutions, source.cameras, prune=prune, actor=_actor())
        except InventoryError as exc:
            fail(f"{file}: {exc}")
        if dry_run:
            s.rollback()
        else:
            s.commit()
    if as_json:
        typer.echo(json.dumps({**rep.as_dict(), "dry_run": dry_run}, ensure_ascii=False))
        return
    for line in rep.lines():
        typer.echo(line)
    if dry_run:
        typer.echo("dry run: nothing was changed")


@inventory_app.command("export")
def export_cmd(with_secrets: bool = typer.Option(False, "--with-secrets", help="Include the stream URLs' passwords"),
               out: Optional[Path] = typer.Option(None, "--out", help="Write to this file (default: standard output)"),
               config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The inventory as config YAML (`institutions`, `cameras`), which `vigil config check` accepts."""
    from vigil.inventory_sync import export_yaml

    from vigil.inventory import load

    with _session(config, db) as s:
        if not load(s)[0]:
            fail("the inventory is empty: nothing to export (a config needs at least one institution)")
        text = export_yaml(s, with_secrets=with_secrets)
    if out is None:
        typer.echo(text, nl=False)
        return
    from vigil.cli_errors import writable_target
    try:
        writable_target(out, "--out")
    except ValueError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    if with_secrets:  # it holds camera passwords: private before a byte is written
        out.touch(mode=0o600)
        out.chmod(0o600)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"{out}: inventory written" + (" (with passwords: keep it private)" if with_secrets else ""))
