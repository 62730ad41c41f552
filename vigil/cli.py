"""The `vigil` command line."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

import typer

from vigil.cli_errors import BadInput, text_file
from vigil.cli_errors import check as _check, emit as _emit, fail as _fail, load_config_or_exit as _load, usage_errors as _usage_errors

app = typer.Typer(help="vigil: remote video safety supervision", no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Configuration file tools", no_args_is_help=True)
app.add_typer(config_app, name="config")
db_app = typer.Typer(help="Database tools", no_args_is_help=True)
app.add_typer(db_app, name="db")
from vigil.cli_models import models_app  # noqa: E402
app.add_typer(models_app, name="models")
from vigil.cli_users import users_app  # noqa: E402
app.add_typer(users_app, name="users")
from vigil.cli_inventory import inventory_app  # noqa: E402
app.add_typer(inventory_app, name="inventory")
from vigil.cli_report import report_app  # noqa: E402
app.add_typer(report_app, name="report")
from vigil.cli_cluster import cluster_app  # noqa: E402
app.add_typer(cluster_app, name="cluster")

ROOT = Path(__file__).resolve().parent.parent


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@config_app.command("check")
def config_check(file: Path = typer.Argument(..., help="YAML config file")) -> None:
    """Validate a config file; print every error with its path and exit non-zero if any."""
    cfg = _load(file)
    n_rules = sum(len(z.rules) for c in cfg.cameras for z in c.zones)
    typer.echo(f"{file}: OK ({len(cfg.institutions)} institution(s), {len(cfg.cameras)} camera(s), {n_rules} rule(s))")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the config file (titles and descriptions of every field)."""
    from vigil.config import VigilConfig
    typer.echo(json.dumps(VigilConfig.model_json_schema(), ensure_ascii=False, indent=2))


@config_app.command("reference")
def config_reference(write: Optional[Path] = typer.Option(None, "--write", help="Update the reference block in this Markdown file")) -> None:
    """Print the configuration reference (Markdown), or write it into the README between its markers."""
    from vigil.config_reference import BEGIN, END, render, write_into

    if write is None:
        typer.echo(render(), nl=False)
        return
    text = _check(text_file, write, "--write")
    if BEGIN not in text or END not in text:
        _fail(f"{write} has no {BEGIN} ... {END} block")
    with _usage_errors(OSError):
        write.write_text(write_into(text), encoding="utf-8")
    typer.echo(f"{write}: configuration reference updated")


@app.command()
def replay(
    video: Path = typer.Argument(..., exists=True, dir_okay=False, help="Video file"),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file; the camera using this video (or --camera) is replayed"),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera id in --config"),
    kind: str = typer.Option("corridor", "--kind", help="Site kind when no config is given"),
    zone: Optional[str] = typer.Option(None, "--zone", help="Zone polygon x,y,x,y,... in 0..1 (default: whole frame)"),
    rule: list[str] = typer.Option([], "--rule", help="Rule type(s) to run (default: those that fit --kind)"),
    param: list[str] = typer.Option([], "--param", help="Rule parameter override key=value, e.g. dwell_s=10 (null switches an optional check off)"),
    detect_fps: float = typer.Option(2.0, "--detect-fps", help="Detection rate without a config"),
    model: Optional[str] = typer.Option(None, "--model", help="Object model name or path"),
    fire_model: Optional[str] = typer.Option(None, "--fire-model", help="Fire/smoke model name or path (default: the config's, else the catalogue's default)"),
    fast: bool = typer.Option(False, "--fast", help="As fast as possible on the video's own clock"),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per event"),
) -> None:
    """Run the full pipeline on a video file and print its events."""
    from vigil.cli_errors import video_file
    from vigil.replay import VideoError, adhoc_camera, parse_zone, pick_camera, run_replay
    from pydantic import ValidationError

    _logging("WARNING")
    _check(video_file, video)
    cfg = None
    try:
        if config:
            cfg = _load(config)
            cam = pick_camera(cfg, video, camera)
        else:
            params = {}
            for p in param:
                k, _, v = p.partition("=")
                v = v.strip()
                params[k.strip()] = (float(v) if v.replace(".", "", 1).isdigit()
                                     else None if v.lower() in ("null", "none") else v)
            cam = adhoc_camera(video, kind, parse_zone(zone) if zone else None, rule or None, params, detect_fps)
    except (ValueError, KeyError) as exc:
        if isinstance(exc, ValidationError):
            from vigil.config import format_errors
            for line in format_errors(exc):
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(2)
        _fail(str(exc))
    from vigil.models.catalogue import ModelNotFound
    with _usage_errors(ModelNotFound, BadInput, VideoError):  # a model that is not there or no model; a broken video
        run_replay(video, cam, cfg, fast=fast, as_json=as_json, model=model, fire_model=fire_model)


@app.command()
def serve(
    config: Path = typer.Option(..., "--config", help="Config file"),
    host: Optional[str] = typer.Option(None, help="Override server.host"),
    port: Optional[int] = typer.Option(None, min=1, max=65535, help="Override server.port"),
    log_level: str = typer.Option("info", help="Log level"),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Ray cluster address (e.g. HEAD:6379 or auto): the "
                                          "cameras run on the cluster's nodes; this process serves the API (cluster.address)"),
) -> None:
    """Run the service: cameras, rules, events, API and review UI."""
    cfg = _load(config)  # before the heavy imports: a bad file is reported at once
    if cluster:
        cfg = cfg.model_copy(update={"cluster": cfg.cluster.model_copy(update={"address": cluster})})
    import uvicorn

    from vigil.api.app import create_app
    from vigil.service import Runtime

    _logging(log_level)
    if cfg.cluster.address:
        from vigil.cluster.ray_backend import start_cluster_mode
        rt = start_cluster_mode(cfg)
    else:
        rt = Runtime(cfg)
    h, p = host or cfg.server.host, port or cfg.server.port
    typer.echo(f"vigil: web app at http://{h}:{p}/app/  (the API is described at /openapi.json once logged in)")
    try:
        uvicorn.run(create_app(rt), host=h, port=p, log_level=log_level.lower(), access_log=False)
    finally:
        rt.stop()


@app.command()
def demo(port: int = typer.Option(8470, min=1, max=65535, help="Port")) -> None:
    """Make the sample clips, serve them as RTSP cameras (files if GStreamer is missing), run the service."""
    from vigil.demo import run_demo
    _logging("INFO")
    run_demo(port)


@db_app.command("upgrade")
def db_upgrade(url: str = typer.Argument(..., help="SQLAlchemy database URL")) -> None:
    """Apply the Alembic migrations to a database."""
    from vigil.api.db import make_engine
    from vigil.api.migrate import upgrade
    from vigil.cli_errors import database_problem
    try:
        upgrade(make_engine(url))
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database is one line; anything else a bug
        problem = database_problem(exc)
        if problem is None:
            raise
        _fail(f"database URL {url}: {problem}")
    typer.echo("database at head")


@db_app.command("seed")
def db_seed(
    events: int = typer.Option(..., "--events", min=0, max=50_000_000, help="Events to insert"),
    hazards: int = typer.Option(..., "--hazards", min=0, max=5_000_000, help="Hazards to insert"),
    institutions: int = typer.Option(200, "--institutions", min=1, max=10_000),
    townships: int = typer.Option(10, "--townships", min=1, max=1000, help="Spread over counties of 5 townships"),
    days: int = typer.Option(365, "--days", min=1, max=3650, help="Events and hazards up to now over this many days"),
    seed: int = typer.Option(1, "--seed", min=0, help="Random seed"),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file whose database to fill"),
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy database URL (instead of --config)"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """Fill a database with an inventory and realistic events and hazards, bulk-loaded (statistics benchmark)."""
    from vigil.ledger.seed import engine_for, human_lines, seed as run_seed

    engine = engine_for(config, db)
    log = (lambda *_: None) if as_json else (lambda m: typer.echo(m, err=True))
    _emit(run_seed(engine, events=events, hazards=hazards, institutions=institutions, townships=townships, days=days,
                   seed=seed, log=log), human_lines, as_json)


from vigil.cli_bench import bench_app  # noqa: E402
app.add_typer(bench_app, name="bench")


def main() -> None:
    from vigil.cli_errors import run
    os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".yolo"))
    run(app)


if __name__ == "__main__":
    main()
