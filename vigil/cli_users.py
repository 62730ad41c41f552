"""`vigil users ...`: accounts from the command line (the database of a config file, or a URL).

Passwords are read from standard input (`--password-stdin`, one line), never from the command line, where
other users of the machine could see them. Every change is written to the audit log as done by `cli`.
"""
from __future__ import annotations

import contextlib
import getpass
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from vigil.cli_errors import fail

users_app = typer.Typer(help="User accounts (roles: admin, supervisor, officer, reviewer, viewer)", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", help="Config file whose database holds the accounts")
DbOpt = typer.Option(None, "--db", help="SQLAlchemy database URL (instead of --config)")


@contextlib.contextmanager
def _session(config: Optional[Path], db: Optional[str]):
    from vigil.api.db import default_sqlite_url, make_engine, make_sessionmaker
    from vigil.api.migrate import upgrade

    if bool(config) == bool(db):
        fail("give exactly one of --config FILE or --db URL")
    if config:
        from vigil.cli_errors import load_config_or_exit
        cfg = load_config_or_exit(config)
        url = cfg.storage.database_url or default_sqlite_url(cfg.storage.data_dir)
    else:
        url = db
    try:
        engine = make_engine(url)
        upgrade(engine)
    except Exception as exc:  # a bad URL or an unreachable database is bad input here
        fail(f"cannot use the database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    try:
        with make_sessionmaker(engine)() as s:
            yield s
    finally:
        engine.dispose()


def _password(stdin: bool) -> str:
    if stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ")
    return first


def _actor() -> str:
    import os
    return f"cli:{os.environ.get('USER') or os.getuid()}"


@users_app.command("add")
def add(name: str = typer.Argument(..., help="Login name"),
        role: str = typer.Option(..., "--role", help="admin, supervisor, officer, reviewer or viewer"),
        region: list[str] = typer.Option([], "--region", help="Region path, e.g. 示范县/城关镇 (supervisor: one; reviewer, viewer: any)"),
        institution: list[str] = typer.Option([], "--institution", help="Institution id (officer: one; reviewer, viewer: any)"),
        display_name: Optional[str] = typer.Option(None, "--display-name"),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input"),
        config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Create a user."""
    from vigil import accounts, audit
    from vigil.access import AccessError

    password = _password(password_stdin)
    with _session(config, db) as s:
        try:
            user = accounts.add_user(s, name, role, password, region, institution, display_name)
        except (accounts.AccountError, AccessError) as exc:
            fail(str(exc))
        view = accounts.user_view(s, user)
        audit.record(s, None, "user.create", client="cli", username=_actor(), object_type="user", object_id=user.id,
                     after={k: view[k] for k in ("username", "role", "regions", "institutions")})
        s.commit()
    typer.echo(f"user {name} added: {role}, {view['scope']}")


@users_app.command("passwd")
def passwd(name: str = typer.Argument(...), password_stdin: bool = typer.Option(False, "--password-stdin"),
           config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Set a user's password (their open sessions end)."""
    from vigil import accounts, audit

    password = _password(password_stdin)
    with _session(config, db) as s:
        try:
            user = accounts.get_user(s, name)
            accounts.set_password(s, user, password)
        except accounts.AccountError as exc:
            fail(str(exc))
        audit.record(s, None, "user.passwd", client="cli", username=_actor(), object_type="user", object_id=user.id)
        s.commit()
    typer.echo(f"user {name}: password changed, sessions ended")


@users_app.command("disable")
def disable(name: str = typer.Argument(...), enable: bool = typer.Option(False, "--enable", help="Enable again instead"),
            config: Optional[Path] = ConfigOpt, db: Optional[str] = DbOpt) -> None:
    """Disable a user (their sessions and API tokens stop working at once), or --enable them again."""
    from vigil import accounts, audit

    with _session(config, db) as s:
        try:
            user = accounts.get_user(s, name)
        except accounts.AccountError as exc:
            fail(str(exc))
        accounts.set_disabled(s, user, not enable)
        audit.record(s, None, "user.enable" if enable else "user.disable", client="cli", username=_actor(),
                     object_type="user", object_id=user.id)
        s.commit()
    typer.echo(f"user {name}: {'enabled' if enable else 'disabled'}")


@users_app.command("list")
def list_users(as_json: bool = typer.Option(False, "--json"), config: Optional[Path] = ConfigOpt,
               db: Optional[str] = DbOpt) -> None:
    """The users, their roles and scopes (never a hash)."""
    from sqlalchemy import select

    from vigil import accounts
    from vigil.api.db_access import UserRow

    with _session(config, db) as s:
        rows = [accounts.user_view(s, u) for u in s.scalars(select(UserRow).order_by(UserRow.username))]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for u in rows:
        typer.echo(f"{u['username']:<24} {u['role']:<10} {'disabled ' if u['disabled'] else ''}{u['scope']}")
