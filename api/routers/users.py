"""`/api/users`: accounts managed by admins (`users.manage`), the API twin of `vigil users ...`. The rules live in
vigil/user_admin.py: role and scope must fit (422 naming the field), a taken name is 409, an admin can neither
disable nor demote themselves (409), disabling ends the user's sessions (their API tokens stop while disabled), a
new password ends the user's sessions. Every change is audited with before/after; no answer and no audit row holds
a password or a hash."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vigil import accounts, audit, user_admin
from vigil.access import Principal
from vigil.api.deps import get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import ID_PATTERN, TEXT_PATTERN, UserIdentity
from vigil.api.security import client_address, require
from vigil.config import REGION_PATTERN

router = APIRouter(tags=["users"])

# USERNAME_PATTERN's characters, but not only dots: '.' and '..' would be path segments, not names
USER_PATTERN = r"^[A-Za-z0-9._@-]*[A-Za-z0-9_@-][A-Za-z0-9._@-]*$"
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=USER_PATTERN, examples=["admin"],
                               description="Login name.")]
Role = Literal["admin", "supervisor", "officer", "reviewer", "viewer"]
RegionPath = Annotated[str, Field(min_length=1, max_length=255, pattern=REGION_PATTERN)]
InstitutionRef = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
REGIONS = "Region paths such as 示范县/城关镇 (supervisor: exactly one; reviewer, viewer: any; admin, officer: none)."
INSTITUTIONS = "Institution ids (officer: exactly one; reviewer, viewer: any; admin, supervisor: none)."
PASSWORD = Field(min_length=accounts.MIN_PASSWORD, max_length=1024,
                 description=f"At least {accounts.MIN_PASSWORD} characters (stored as an argon2id hash, never shown).")
DISPLAY = dict(max_length=80, pattern=TEXT_PATTERN, description="The name shown in the ledger and the UI.")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    username: str = Field(min_length=1, max_length=64, pattern=USER_PATTERN, description="Login name.")
    display_name: str | None = Field(None, **DISPLAY)
    role: Role
    regions: list[RegionPath] = Field(default_factory=list, max_length=50, description=REGIONS)
    institutions: list[InstitutionRef] = Field(default_factory=list, max_length=200, description=INSTITUTIONS)
    password: str = PASSWORD


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    display_name: str | None = Field(None, **DISPLAY, title="Display name")
    role: Role | None = Field(None, description="A new role (send the scope that fits it too).")
    regions: list[RegionPath] | None = Field(None, max_length=50, description=REGIONS + " Not sent: unchanged.")
    institutions: list[InstitutionRef] | None = Field(None, max_length=200,
                                                      description=INSTITUTIONS + " Not sent: unchanged.")
    disabled: bool | None = Field(None, description="true ends the user's sessions; API tokens stop while disabled.")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    password: str = PASSWORD


class UserOut(UserIdentity):
    disabled: bool
    created_at: datetime | None
    password_changed_at: datetime | None
    last_login_at: datetime | None = Field(description="The last successful login (from the audit log); null if none.")


E404 = {"e404": {"description": "No such user"}}
E409_CREATE = {"e409": {"description": "The username is taken"}}
E409_PATCH = {"e409": {"description": "An admin cannot disable or demote themselves"}}
MANAGE = Depends(require("users.manage"))


def _invalid(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": msg, "type": "value_error"}])


def _user(s: Session, username: str):
    try:
        return user_admin.get(s, username)
    except user_admin.NotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/api/users", response_model=list[UserOut], responses=error_responses(401, 403),
            summary="Users with role, scope and last login")
def list_users(_: Principal = MANAGE, s: Session = Depends(get_session)) -> list[dict]:
    return user_admin.list_users(s)


@router.post("/api/users", response_model=UserOut, status_code=201,
             responses=error_responses(400, 401, 403, 409, 422, **E409_CREATE), summary="Create a user")
def create_user(body: UserIn, request: Request, who: Principal = MANAGE, s: Session = Depends(get_session)) -> dict:
    """The role's scope: admin none, supervisor one region, officer one institution, reviewer and viewer at least
    one region or institution (422 names the field)."""
    try:
        user = user_admin.create(s, username=body.username, role=body.role, password=body.password,
                                 regions=body.regions, institutions=body.institutions, display_name=body.display_name)
    except user_admin.Conflict as exc:
        s.rollback()
        raise HTTPException(409, str(exc)) from None
    except user_admin.Invalid as exc:
        raise _invalid(exc.field, exc.msg) from None
    except accounts.AccountError as exc:
        raise _invalid("password" if "password" in str(exc) else "username", str(exc)) from None
    view = user_admin.detail(s, user)
    audit.record(s, who, "user.create", client=client_address(request), object_type="user", object_id=user.id,
                 after=user_admin.audit_view(view))
    s.commit()
    return view


@router.get("/api/users/{username}", response_model=UserOut, responses=error_responses(401, 403, 404, 422, **E404))
def get_user(username: Username, _: Principal = MANAGE, s: Session = Depends(get_session)) -> dict:
    return user_admin.detail(s, _user(s, username))


@router.patch("/api/users/{username}", response_model=UserOut,
              responses=error_responses(400, 401, 403, 404, 409, 422, **E404, **E409_PATCH),
              summary="Change a user's display name, role, scope or disabled flag")
def update_user(username: Username, body: UserPatch, request: Request, who: Principal = MANAGE,
                s: Session = Depends(get_session)) -> dict:
    """Fields not sent stay as they are (a scope list not sent too: changing the role usually needs the scope that
    fits it). Disabling ends the user's sessions at once, and their API tokens answer 401 while disabled. A change
    of role or scope applies from the user's next request."""
    user = _user(s, username)
    try:
        before, after = user_admin.update(s, who, user, body.model_dump(include=body.model_fields_set))
    except user_admin.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except user_admin.Invalid as exc:
        raise _invalid(exc.field, exc.msg) from None
    if before != after:
        audit.record(s, who, "user.update", client=client_address(request), object_type="user", object_id=user.id,
                     before={k: v for k, v in before.items() if before[k] != after[k] or k == "username"},
                     after={k: v for k, v in after.items() if before[k] != after[k] or k == "username"})
    s.commit()
    return user_admin.detail(s, user)


@router.post("/api/users/{username}/password", response_model=UserOut,
             responses=error_responses(400, 401, 403, 404, 422, **E404), summary="Set a user's password")
def set_password(username: Username, body: PasswordIn, request: Request, who: Principal = MANAGE,
                 s: Session = Depends(get_session)) -> dict:
    """An admin sets a new password; the user's sessions end (their API tokens keep working)."""
    user = _user(s, username)
    try:
        user_admin.set_password(s, user, body.password)
    except accounts.AccountError as exc:
        raise _invalid("password", str(exc)) from None
    audit.record(s, who, "user.passwd", client=client_address(request), object_type="user", object_id=user.id,
                 note="password set by an admin; sessions ended")
    s.commit()
    return user_admin.detail(s, user)
