"""`vigil report ...`: reports made from the database of a config file (or a URL).

`monthly` writes the monthly bulletin (月度通报) of a region as Excel (`--format xlsx`) or PDF (`--format pdf`):
vigil/ledger/bulletin. The month is a calendar month of the server's time zone (`server.timezone` of `--config`;
with `--db`, the default Asia/Shanghai). Each bulletin made is written to the audit log as done by `cli`.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Optional
from zoneinfo import ZoneInfo

import typer

from vigil.cli_errors import fail
from vigil.cli_users import _actor, _session

report_app = typer.Typer(help="Reports: the monthly bulletin (月度通报) as Excel or PDF", no_args_is_help=True)
ConfigOpt = typer.Option(None, "--config", help="Config file: its database holds the ledger, its server.timezone "
                                                "decides the month's bounds")
DbOpt = typer.Option(None, "--db", help="SQLAlchemy database URL (instead of --config; time zone Asia/Shanghai)")


def _timezone(config: Optional[Path]) -> ZoneInfo:
    from vigil.config import ServerConfig

    name = ServerConfig().timezone
    if config:
        from vigil.cli_errors import load_config_or_exit
        name = load_config_or_exit(config).server.timezone
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        fail(f"server.timezone {name!r} is not a known time zone ({exc})")


def _last_month(tz: ZoneInfo) -> str:
    from vigil.clock import Clock

    now = Clock().now().astimezone(tz)
    y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{y:04d}-{m:02d}"


@report_app.command("monthly")
def monthly(month: Optional[str] = typer.Option(None, "--month", help="YYYY-MM, in the server's time zone "
                                                                      "(default: last month)"),
            region: Optional[str] = typer.Option(None, "--region", help="Region path, e.g. 示范县 or 示范县/城关镇 "
                                                                        "(default: the county)"),
            fmt: Optional[str] = typer.Option(None, "--format", help="xlsx or pdf (default: the suffix of --out)"),
            out: Path = typer.Option(..., "--out", help="File to write"),
            config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """The monthly bulletin of a region: summary, townships, institutions, categories, overdue hazards, ranking."""
    from vigil import audit
    from vigil.clock import Clock
    from vigil.cli_errors import BadInput, writable_target
    from vigil.inventory import load
    from vigil.ledger import bulletin, stats

    try:
        writable_target(out, "--out")
    except BadInput as exc:
        fail(str(exc))
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in bulletin.FORMATS:
        fail(f"--format must be xlsx or pdf, not {fmt!r}" if fmt else "--format xlsx|pdf is needed (--out has no "
             "suffix that says which)")
    if bool(config) == bool(db):
        fail("give exactly one of --config FILE or --db URL")
    tz = _timezone(config)
    month = month or _last_month(tz)
    try:
        bulletin.parse_month(month)
    except bulletin.BulletinError as exc:
        fail(f"--month: {exc}")
    with _session(config, db) as s:
        institutions, cameras = load(s)
        view = SimpleNamespace(cfg=SimpleNamespace(cameras=cameras), institutions={i.id: i for i in institutions})
        insts = stats.institutions_from_runtime(view)
        if not insts:
            fail("the inventory is empty: no institution to report on")
        region = region or bulletin.default_region(insts)
        if not region:
            fail("--region is needed: the institutions lie in more than one county")
        try:
            b = bulletin.build(s, insts, month=month, region=region, now=Clock().now(), tz=tz)
            data = bulletin.render(b, fmt)
        except bulletin.UnknownRegion as exc:
            fail(f"--region: {exc}")
        except bulletin.FutureMonth as exc:
            fail(f"--month: {exc}")
        except bulletin.BulletinError as exc:
            fail(str(exc))
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            out.write_bytes(data)
        except OSError as exc:
            fail(f"--out {out}: cannot write: {exc.strerror or exc}")
        audit.record(s, None, "report.monthly", username=_actor(), client="cli", object_type="report",
                     object_id=f"monthly-{b.month}", region=b.region, note=fmt,
                     after={"month": b.month, "region": b.region, "format": fmt, "bytes": len(data)})
        s.commit()
    t = b.summary
    typer.echo(f"{out}: {b.title} ({fmt}, {len(data)} bytes; {b.institution_count} institution(s), "
               f"{t.hazards_opened} new hazard(s), {t.hazards_closed} closed, {t.hazards_overdue} overdue)")
