"""Accounts without the API server (issue #15): the login limiter on its own clock, the `vigil users` command on a
real SQLite file, and the audit's coalescing of repeated views."""
from __future__ import annotations

from sqlalchemy import text

from vigil_fixtures import PASSWORD


def test_login_limits_per_account_and_per_address():
    """The limiter alone, on its own clock: 5 failures per account (from any addresses) or per address (for any
    accounts) within 60 s, then a wait until the oldest failure leaves the window; a success clears the account."""
    from vigil.accounts import LoginLimiter

    lim = LoginLimiter()
    for i in range(5):
        assert lim.retry_after("zhang", f"10.0.0.{i}", t=100.0 + i) == 0
        lim.failed("zhang", f"10.0.0.{i}", t=100.0 + i)
    assert lim.retry_after("zhang", "10.9.9.9", t=105.0) == 56  # the account, from a new address
    assert lim.retry_after("li", "10.9.9.9", t=105.0) == 0  # another account elsewhere: free
    assert lim.retry_after("zhang", "10.9.9.9", t=160.5) == 0  # the first failure left the window
    for i in range(5):
        lim.failed(f"user{i}", "10.1.1.1", t=200.0)
    assert lim.retry_after("li", "10.1.1.1", t=201.0) == 60  # the address, for any account
    lim.succeeded("zhang")
    assert lim.retry_after("zhang", "10.2.2.2", t=106.0) == 0


def test_users_cli_add_passwd_disable(tmp_path):
    import json
    import subprocess
    import sys

    from sqlalchemy import create_engine

    from helpers import REPO

    db = f"sqlite:///{tmp_path / 'u.db'}"

    def vigil(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "vigil.cli", "users", *args, "--db", db], input=stdin,
                              capture_output=True, text=True, cwd=REPO, timeout=120)

    r = vigil("add", "zhang", "--role", "supervisor", "--region", "示范县/城关镇", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "supervisor, region 示范县/城关镇" in r.stdout, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    r = vigil("add", "li", "--role", "officer", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 2 and r.stderr.strip() == "error: an officer needs exactly one --institution (and no --region)"
    r = vigil("add", "wang", "--role", "viewer", "--institution", "a1", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 10 characters" in r.stderr
    assert vigil("passwd", "zhang", "--password-stdin", stdin="another-password-77\n").returncode == 0
    assert vigil("disable", "zhang").returncode == 0
    listed = vigil("list", "--json")
    rows = json.loads(listed.stdout)
    assert [(u["username"], u["disabled"]) for u in rows] == [("zhang", True)]
    assert "argon2" not in listed.stdout
    with create_engine(db).connect() as c:
        h = c.execute(text("SELECT password_hash FROM users")).scalar()
        actions = c.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert h.startswith("$argon2id$")
    assert actions == ["user.create", "user.passwd", "user.disable"]


def test_repeated_views_are_one_audit_row_per_window():
    """A live wall refreshing a thumbnail every few seconds: one row per user and camera per window, again after it."""
    from vigil.audit import ViewCoalescer

    views = ViewCoalescer(window_s=300, max_keys=2)
    assert views.due((1, "gate"), 0.0) and not views.due((1, "gate"), 5.0) and not views.due((1, "gate"), 299.0)
    assert views.due((2, "gate"), 5.0) and views.due((1, "exit"), 6.0)  # other users and cameras are their own rows
    assert views.due((1, "gate"), 300.0)  # the window passed (and the oldest key was dropped at the bound anyway)
    assert len(views._last) == 2
