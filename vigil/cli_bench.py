"""`vigil bench ...`: benchmarks whose last stdout line is JSON (the figures the README reports)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vigil.cli_errors import BadInput, emit as _emit, fail as _fail, model_file, usage_errors as _usage_errors

bench_app = typer.Typer(help="Benchmarks (last stdout line: JSON)", no_args_is_help=True)


@bench_app.command("detector")
def bench_detector(
    model: str = typer.Option(..., "--model", help="Catalogue name or path of an .onnx file"),
    imgsz: Optional[int] = typer.Option(None, "--imgsz", min=32, help="Input size for models without a fixed one"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="ONNX Runtime intra-op threads (default: CPU count)"),
    batch: int = typer.Option(8, "--batch", min=1, help="Batch size for the throughput comparison"),
    n: int = typer.Option(50, "--n", min=1, help="Frames timed"),
    ultralytics: bool = typer.Option(True, "--ultralytics/--no-ultralytics", help="Also time ultralytics YOLO.predict"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """OnnxDetector vs raw session.run vs ultralytics on real street frames. Last line: JSON."""
    from vigil.models.catalogue import ModelNotFound, resolve_model
    from vigil.vision.bench_detector import bench_detector as run_bench, human_lines

    with _usage_errors(ModelNotFound, FileNotFoundError, BadInput):
        path = model_file(resolve_model(model), "--model", suffixes=(".onnx",))
        result = run_bench(path, imgsz=imgsz, threads=threads, batch=batch, n=n, ultralytics=ultralytics)
    _emit(result, human_lines, as_json)


@bench_app.command("streams")
def bench_streams_cmd(
    cameras: int = typer.Option(24, "--cameras", min=1, max=256, help="RTSP cameras to start (not with --sweep)"),
    seconds: Optional[float] = typer.Option(None, "--seconds", min=5, help="Measuring window after the warm-up (default 60; with --sweep, per step: 20)"),
    size: str = typer.Option("640x360", "--size", help="Frame size WxH (sub-stream 640x360; main stream e.g. 1280x720)"),
    fps: float = typer.Option(10, "--fps", min=1, max=60, help="Camera frame rate"),
    baseline: bool = typer.Option(False, "--baseline", help="Also run the naive ultralytics baseline and report baseline_ratio"),
    warmup: Optional[float] = typer.Option(None, "--warmup", min=0, help="Seconds before measuring (default 15; with --sweep, per step: 10)"),
    model: Optional[str] = typer.Option(None, "--model", help="Object model (catalogue name or path; default: the catalogue's objects default)"),
    imgsz: int = typer.Option(320, "--imgsz", min=64),
    fire_model: str = typer.Option("auto", "--fire-model", help="Fire/smoke model (catalogue name or path; auto: the catalogue default)"),
    sweep: bool = typer.Option(False, "--sweep", help="Find the largest camera count vigil holds and the largest the naive "
                                                      "loop holds, in one run (doubling, then bisection); report their ratio"),
    max_cameras: int = typer.Option(64, "--max-cameras", min=1, max=256, help="--sweep: the largest count tried"),
    start: Optional[int] = typer.Option(None, "--start", min=1, help="--sweep: vigil's first count (default: the naive loop's)"),
    still_share: float = typer.Option(0.0, "--still-share", min=0, max=1, help="Share of the cameras that play still "
                                      "footage with rare movement (a real frame held, 8 s of movement every 120 s)"),
    models: Optional[str] = typer.Option(None, "--models", help="--sweep: vigil once per model configuration, comma-separated "
                                         "OBJECTS[+FIRE[+PERSON]] (FIRE: a name, auto or none; PERSON: the duty-room cameras' "
                                         "detector.person_model), e.g. old first, new last; the result "
                                         "says whether the new one holds as many cameras"),
    naive: bool = typer.Option(True, "--naive/--no-naive", help="--sweep: also sweep the naive loop (the ratio needs it)"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """N cameras on the local RTSP server, every rule active; last line: JSON (cameras, detect_hz_min,
    lag_p50_s, lag_p99_s, dropped_frames, cpu_percent, rss_mb[, baseline_ratio]). With --sweep: the largest
    counts vigil and the naive loop hold, each step and why it held or not, and their ratio."""
    from vigil.bench import bench_streams, bench_sweep, human_lines, parse_models
    from vigil.models.catalogue import ModelNotFound, resolve_model

    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        _fail(f"--size must look like 640x360, not {size!r}")
    log = (lambda *_: None) if as_json else (lambda m: typer.echo(m, err=True))
    if not sweep:
        if models or start:
            _fail("--models and --start go with --sweep")
        with _usage_errors(ModelNotFound, BadInput):
            model_file(resolve_model(model), "--model")
            if fire_model != "auto":
                model_file(resolve_model(fire_model, purpose="fire"), "--fire-model")
        result = bench_streams(cameras, seconds or 60, (w, h), fps, baseline, 15 if warmup is None else warmup, model,
                               imgsz, log=log, fire_model=fire_model, still_share=still_share)
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    try:
        sides = parse_models(models) if models else None
    except ValueError as exc:
        _fail(str(exc))
    if sides is None:
        from vigil.bench import ModelSide
        sides = [ModelSide("default" if model is None and fire_model == "auto" else f"{model or 'default'}+{fire_model}",
                           model, None if fire_model.lower() == "none" else fire_model)]
    with _usage_errors(ModelNotFound, BadInput):
        for side in sides:
            model_file(resolve_model(side.model), "--models" if models else "--model")
            if side.fire_model not in (None, "auto"):
                model_file(resolve_model(side.fire_model, purpose="fire"), "--models" if models else "--fire-model")
            if side.person_model:
                model_file(resolve_model(side.person_model), "--models")
    with _usage_errors(FileNotFoundError):
        result = bench_sweep(max_cameras, seconds or 20, (w, h), fps, 10 if warmup is None else warmup, sides, imgsz,
                             still_share, start, naive, log=log)
    _emit(result, human_lines, as_json)


@bench_app.command("live")
def bench_live_cmd(
    viewers: str = typer.Option("0,1,4,8", "--viewers", help="Viewer counts to measure, comma-separated (0: baseline)"),
    seconds: float = typer.Option(10, "--seconds", min=2, help="Measuring window per viewer count"),
    warmup: float = typer.Option(4, "--warmup", min=1, help="Seconds after the viewers connect, before measuring"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """The service's CPU with 0, 1, 4, 8 WebRTC viewers of one RTSP camera (viewers in another process);
    last line: JSON (rows, cpu_percent_per_viewer, machine)."""
    from vigil.bench_live import bench_live, human_lines

    try:
        counts = [int(v) for v in viewers.split(",") if v.strip()]
    except ValueError:
        _fail(f"--viewers must be comma-separated counts such as 0,1,4,8, not {viewers!r}")
    if not counts or any(n < 0 or n > 64 for n in counts):
        _fail("--viewers: counts from 0 to 64")
    with _usage_errors(FileNotFoundError):
        result = bench_live(counts, seconds, warmup, log=(lambda *_: None) if as_json else (lambda m: typer.echo(m, err=True)))
    _emit(result, human_lines, as_json)


@bench_app.command("login")
def bench_login_cmd(
    attempts: int = typer.Option(1000, "--attempts", min=10, max=100000, help="Wrong passwords the attacker sends"),
    baseline: float = typer.Option(10, "--baseline-seconds", min=1, help="Reads measured before the attack"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """An address guessing passwords against the real service while a logged-in user reads events: what the
    attacker gets (401, then 429) and the user's p50/p99 latency with and without it. Last line: JSON."""
    from vigil.bench_login import bench_login, human_lines

    log = (lambda *_: None) if as_json else (lambda m: typer.echo(m, err=True))
    _emit(bench_login(attempts, baseline, log=log), human_lines, as_json)


@bench_app.command("stats")
def bench_stats_cmd(
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of a database filled by `vigil db seed`"),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file whose database to use (instead of --db)"),
    runs: int = typer.Option(20, "--runs", min=2, max=1000, help="Timed calls per function and endpoint"),
    periods: str = typer.Option("last_month,year", "--periods", help="Comma-separated: this_month (the API's default), "
                                "last_month (a bulletin's), year (the last 365 days)"),
    compare_indexes: bool = typer.Option(False, "--compare-indexes", help="First time the module without the indexes "
                                                                          "of migration 0007 (dropped, then rebuilt)"),
    http: bool = typer.Option(True, "--http/--no-http", help="Also time the HTTP endpoints"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """p50/p95 of the statistics functions and endpoints (an admin, a township supervisor) and the plan of each
    query, on a seeded database. Last line: JSON."""
    from vigil.ledger.bench_stats import PERIODS, bench_stats, human_lines
    from vigil.ledger.seed import engine_for

    names = tuple(p.strip() for p in periods.split(",") if p.strip())
    if not names or set(names) - set(PERIODS):
        _fail(f"--periods takes a comma-separated list of {', '.join(PERIODS)}, not {periods!r}")
    engine_for(config, db).dispose()  # bad input is one line here, before anything starts
    if config:
        from vigil.api.db import default_sqlite_url
        from vigil.cli_errors import load_config_or_exit
        cfg = load_config_or_exit(config)
        db = cfg.storage.database_url or default_sqlite_url(cfg.storage.data_dir)
    log = (lambda *_: None) if as_json else (lambda m: typer.echo(m, err=True))
    _emit(bench_stats(db, runs, names, compare_indexes, http, log=log), human_lines, as_json)
