"""Accounts: users with argon2id password hashes, browser sessions, API tokens, login rate limits (no web
framework here; api/security.py turns a request into a `Principal` through these functions).

- Passwords: argon2id via argon2-cffi (its RFC 9106 low-memory profile), rehashed on login when the parameters
  change. An unknown user costs the same hash verification as a wrong password, and gets the same answer.
- Sessions: a random 256-bit token, handed out once (login), stored as its SHA-256; expires after
  `SESSION_TTL_S`, revoked on logout or when the user is disabled or changes password.
- API tokens: `vgt_<id>_<secret>`, made by an admin for a user (whose role and scope they act with), stored as the
  secret's SHA-256, with an expiry, revocable.
- Login limits: at most `LOGIN_FAILURES` failures per account and per client address within `LOGIN_WINDOW_S`;
  beyond that the login is refused before any hash is computed (cheap), with the seconds to wait.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.access import ROLES, Principal, Scope, normalise_region, scope_for
from vigil.api.db import as_utc
from vigil.api.db_access import ApiTokenRow, SessionRow, UserRow, UserScopeRow
from vigil.ratelimit import SlidingWindows

SESSION_TTL_S = 12 * 3600
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 60.0
MIN_PASSWORD = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
_DUMMY_HASH = _hasher.hash("vigil: the hash an unknown user is checked against")


class AccountError(ValueError):
    """Bad input for an account operation (the message says which and why)."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_username(name: str) -> str:
    if not 1 <= len(name) <= 64 or set(name) - USERNAME_CHARS:
        raise AccountError(f"username {name!r}: 1-64 characters of letters, digits and . _ - @")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password too short: at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("password too long: at most 1024 characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


# --- users -------------------------------------------------------------------------------------------------

def add_user(s: Session, username: str, role: str, password: str, regions=(), institutions=(),
             display_name: str | None = None) -> UserRow:
    check_username(username)
    scope_for(role, regions, institutions)  # the assignments must fit the role
    if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = UserRow(username=username, role=role, password_hash=hash_password(password), display_name=display_name)
    s.add(user)
    s.flush()
    s.add_all([UserScopeRow(user_id=user.id, kind="region", value=normalise_region(r)) for r in regions] +
              [UserScopeRow(user_id=user.id, kind="institution", value=str(i)) for i in institutions])
    return user


def get_user(s: Session, username: str) -> UserRow:
    user = s.scalar(select(UserRow).where(UserRow.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def user_scope(s: Session, user: UserRow) -> Scope:
    rows = s.scalars(select(UserScopeRow).where(UserScopeRow.user_id == user.id)).all()
    return scope_for(user.role, [r.value for r in rows if r.kind == "region"],
                     [r.value for r in rows if r.kind == "institution"])


def set_password(s: Session, user: UserRow, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
    revoke_sessions(s, user.id)


def set_disabled(s: Session, user: UserRow, disabled: bool = True) -> None:
    user.disabled = disabled
    if disabled:
        revoke_sessions(s, user.id)


def user_view(s: Session, user: UserRow) -> dict:
    scope = user_scope(s, user)
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "disabled": user.disabled, "regions": sorted(scope.regions), "institutions": sorted(scope.institutions),
            "scope": scope.describe()}


# --- login and sessions ------------------------------------------------------------------------------------

def verify_login(s: Session, username: str, password: str) -> UserRow | None:
    """The enabled user whose password this is, else None; the same work is done for an unknown user."""
    user = s.scalar(select(UserRow).where(UserRow.username == username)) if len(username) <= 64 else None
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def open_session(s: Session, user: UserRow, client: str | None, ttl_s: int = SESSION_TTL_S) -> tuple[str, int]:
    """A new session for `user`: (token, seconds it lasts). The token is shown once and stored hashed."""
    token = secrets.token_urlsafe(32)
    s.add(SessionRow(id=token_digest(token), user_id=user.id, expires_at=now() + timedelta(seconds=ttl_s),
                     client=(client or "")[:64] or None))
    return token, ttl_s


def close_session(s: Session, token: str) -> bool:
    row = s.get(SessionRow, token_digest(token))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    return True


def revoke_sessions(s: Session, user_id: int) -> None:
    for row in s.scalars(select(SessionRow).where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))):
        row.revoked_at = now()


def prune_sessions(s: Session) -> int:
    """Delete sessions that expired more than a day ago."""
    return s.execute(delete(SessionRow).where(SessionRow.expires_at < now() - timedelta(days=1))).rowcount or 0


# --- API tokens --------------------------------------------------------------------------------------------

def create_api_token(s: Session, user: UserRow, name: str, days: float, created_by: int | None) -> tuple[ApiTokenRow, str]:
    if not 0 < days <= 3650:
        raise AccountError("a token's expiry must be between 1 day and 10 years")
    if not 1 <= len(name.strip()) <= 80:
        raise AccountError("a token needs a name of 1-80 characters")
    secret = secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name.strip(), user_id=user.id, secret_hash=token_digest(secret), created_by=created_by,
                      expires_at=now() + timedelta(days=days))
    s.add(row)
    s.flush()
    return row, f"vgt_{row.id}_{secret}"


def revoke_api_token(s: Session, token_id: int) -> ApiTokenRow | None:
    row = s.get(ApiTokenRow, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now()
    return row


def token_view(row: ApiTokenRow, username: str | None = None) -> dict:
    state = ("revoked" if row.revoked_at else "expired" if as_utc(row.expires_at) <= now() else "active")
    return {"id": row.id, "name": row.name, "user_id": row.user_id, "username": username,
            "created_at": as_utc(row.created_at), "expires_at": as_utc(row.expires_at),
            "revoked_at": as_utc(row.revoked_at), "last_used_at": as_utc(row.last_used_at), "state": state}


# --- from a presented token to a principal -----------------------------------------------------------------

def _principal(s: Session, user: UserRow, via: str, credential_id: str) -> Principal | None:
    if user is None or user.disabled:
        return None
    return Principal(user.id, user.username, user.role, user_scope(s, user), via, credential_id)


def principal_for_token(s: Session, token: str) -> Principal | None:
    """The caller behind a session token or an API token (`vgt_...`), or None when it is unknown, expired,
    revoked, or its user is disabled."""
    if not token or len(token) > 256:
        return None
    if token.startswith("vgt_"):
        _, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if not token_id.isdigit() or not secret or len(token_id) > 9:
            return None
        row = s.get(ApiTokenRow, int(token_id))
        if (row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now()
                or not hmac.compare_digest(row.secret_hash, token_digest(secret))):
            return None
        row.last_used_at = now()
        return _principal(s, s.get(UserRow, row.user_id), "token", f"token:{row.id}")
    row = s.get(SessionRow, token_digest(token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now():
        return None
    return _principal(s, s.get(UserRow, row.user_id), "session", f"session:{row.id[:12]}")


# --- login rate limits -------------------------------------------------------------------------------------

@dataclass
class LoginLimiter:
    """Failures per account and per client address in a sliding window (in this process)."""

    failures: int = LOGIN_FAILURES
    window_s: float = LOGIN_WINDOW_S

    def __post_init__(self) -> None:
        self._windows = SlidingWindows(self.window_s)
        self._lock = threading.Lock()

    def retry_after(self, username: str, client: str | None, t: float | None = None) -> int:
        """Seconds to wait before this login may be tried (0: go ahead)."""
        t = time.monotonic() if t is None else t
        with self._lock:
            wait = max(self._windows.wait(key, self.failures, t) for key in (f"user:{username}", f"client:{client}"))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str, client: str | None, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            for key in (f"user:{username}", f"client:{client}"):
                self._windows.record(key, t)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._windows.seen.pop(f"user:{username}", None)


__all__ = ["ROLES", "AccountError", "UserRow", "LoginLimiter", "add_user", "close_session", "create_api_token", "get_user",
           "open_session", "principal_for_token", "revoke_api_token", "set_disabled", "set_password", "user_scope",
           "user_view", "verify_login"]
