"""Managing accounts as an admin (the API's `/api/users`; no web framework here): list, create, change role, scope,
display name and the disabled flag, set a new password. Built on vigil/accounts.py, with the CLI's rules:

- role and scope must fit together (`vigil.access.scope_for`); the password policy is `accounts.check_password`;
- disabling a user ends their sessions at once, and their API tokens stop working while they are disabled;
- a new password ends the user's sessions;
- an admin can neither disable nor demote themselves (they would lock themselves out by mistake);
- views never hold a password hash or a token secret; the audit views below are what before/after record.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil import accounts
from vigil.access import AccessError, Principal, normalise_region, scope_for
from vigil.api.db import as_utc
from vigil.api.db_access import AuditRow, UserRow, UserScopeRow

AUDIT_FIELDS = ("username", "display_name", "role", "regions", "institutions", "disabled")


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    """The name is taken, or the change would lock the acting admin out."""


@dataclass
class Invalid(ValueError):
    """A body field that does not fit (the role's scope): `field` names it."""

    field: str
    msg: str

    def __str__(self) -> str:
        return f"{self.field}: {self.msg}"


def _scope_error(exc: AccessError, role: str, regions: frozenset[str], institutions: frozenset[str]) -> Invalid:
    """scope_for's refusal, in the API's words, naming the field to fix."""
    msg = str(exc).replace("--region", "region").replace("--institution", "institution")
    if role == "admin" or role == "supervisor":
        field = "institutions" if institutions else "regions"
    elif role == "officer":
        field = "regions" if regions else "institutions"
    else:
        field = "regions"
    return Invalid(field, msg)


def _checked_scope(role: str, regions: Iterable[str], institutions: Iterable[str]) -> tuple[list[str], list[str]]:
    regions = sorted({normalise_region(r) for r in regions if normalise_region(r)})
    institutions = sorted({str(i) for i in institutions})
    try:
        scope_for(role, regions, institutions)
    except AccessError as exc:
        raise _scope_error(exc, role, frozenset(regions), frozenset(institutions)) from None
    return regions, institutions


def last_logins(s: Session, user_ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """The last successful login per user id, from the audit log (None for users never seen logging in)."""
    q = (select(AuditRow.object_id, func.max(AuditRow.at))
         .where(AuditRow.action == "auth.login", AuditRow.outcome == "ok", AuditRow.object_type == "user"))
    if user_ids is not None:
        q = q.where(AuditRow.object_id.in_([str(i) for i in user_ids]))
    out = {}
    for oid, at in s.execute(q.group_by(AuditRow.object_id)).all():
        if oid and oid.isdigit():
            out[int(oid)] = as_utc(at)
    return out


def view(s: Session, user: UserRow, last_login: datetime | None = None) -> dict:
    """What the API shows of a user (never the hash)."""
    return {**accounts.user_view(s, user), "created_at": as_utc(user.created_at),
            "password_changed_at": as_utc(user.password_changed_at), "last_login_at": last_login}


def audit_view(v: dict) -> dict:
    return {k: v[k] for k in AUDIT_FIELDS}


def list_users(s: Session) -> list[dict]:
    logins = last_logins(s)
    return [view(s, u, logins.get(u.id)) for u in s.scalars(select(UserRow).order_by(UserRow.username))]


def get(s: Session, username: str) -> UserRow:
    try:
        return accounts.get_user(s, username)
    except accounts.AccountError:
        raise NotFound(f"user '{username}' does not exist") from None


def detail(s: Session, user: UserRow) -> dict:
    return view(s, user, last_logins(s, [user.id]).get(user.id))


def create(s: Session, *, username: str, role: str, password: str, regions=(), institutions=(),
           display_name: str | None = None) -> UserRow:
    """A new user (flushed, not committed). Conflict when the name is taken."""
    accounts.check_username(username)
    regions, institutions = _checked_scope(role, regions, institutions)
    if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise Conflict(f"user '{username}' exists already")
    try:
        return accounts.add_user(s, username, role, password, regions, institutions, display_name)
    except IntegrityError:  # made meanwhile by another request (the caller's session must be rolled back)
        raise Conflict(f"user '{username}' exists already") from None


def update(s: Session, who: Principal, user: UserRow, changes: dict) -> tuple[dict, dict]:
    """Apply `changes` (any of display_name, role, regions, institutions, disabled; a scope list not given keeps
    its current value). Returns the (before, after) audit views; they are equal when nothing changed."""
    before = audit_view(accounts.user_view(s, user))
    role = changes.get("role") or user.role
    regions = changes["regions"] if changes.get("regions") is not None else before["regions"]
    institutions = changes["institutions"] if changes.get("institutions") is not None else before["institutions"]
    disabled = changes["disabled"] if changes.get("disabled") is not None else user.disabled
    if user.id == who.user_id:
        if disabled:
            raise Conflict("an admin cannot disable their own account: ask another admin")
        if role != user.role:
            raise Conflict("an admin cannot change their own role: ask another admin")
    regions, institutions = _checked_scope(role, regions, institutions)
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    user.role = role
    if (regions, institutions) != (before["regions"], before["institutions"]):
        for row in s.scalars(select(UserScopeRow).where(UserScopeRow.user_id == user.id)):
            s.delete(row)
        s.flush()
        s.add_all([UserScopeRow(user_id=user.id, kind="region", value=r) for r in regions] +
                  [UserScopeRow(user_id=user.id, kind="institution", value=i) for i in institutions])
    if disabled != user.disabled:
        accounts.set_disabled(s, user, disabled)  # disabling ends the sessions; tokens stop while disabled
    s.flush()
    return before, audit_view(accounts.user_view(s, user))


def set_password(s: Session, user: UserRow, password: str) -> None:
    """A new password (the CLI's policy); the user's sessions end."""
    accounts.set_password(s, user, password)


__all__ = ["AUDIT_FIELDS", "Conflict", "Invalid", "NotFound", "audit_view", "create", "detail", "get", "last_logins",
           "list_users", "set_password", "update", "view"]
