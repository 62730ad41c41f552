"""Login, logout, who am I; API tokens for integrations (admins)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import accounts, audit
from vigil.access import Principal
from vigil.api.db_access import ApiTokenRow, UserRow
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import USERNAME_PATTERN, UserIdentity
from vigil.api.security import COOKIE, client_address, get_principal, presented_token, require
from vigil.service import Runtime

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`; the browser gets it as a cookie too.")
    token_type: str = Field("bearer", description="Always 'bearer'.")
    expires_in: int = Field(description="Seconds the session lasts.")


class MeOut(UserIdentity):
    permissions: list[str] = Field(description="The actions this role may take (README, permission matrix).")
    via: str = Field(description="session or token.")
    institution_names: dict[str, str] = Field(default_factory=dict, description=(
        "The names of the institutions named in this user's scope, by id (for showing the scope; an id no longer "
        "in the inventory is left out)."))


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00]*$", description="What the token is for.")
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN, examples=["admin"],
                          description="The user whose role and scope the token acts with.")
    days: float = Field(90, gt=0, le=3650, description="Days until it expires.")


class TokenOut(BaseModel):
    id: int
    name: str
    user_id: int
    username: str | None
    created_at: object
    expires_at: object
    revoked_at: object | None
    last_used_at: object | None
    state: str = Field(description="active, expired or revoked.")


class TokenCreated(TokenOut):
    token: str = Field(description="The secret, shown only this once (stored hashed).")


@router.post("/api/auth/login", response_model=LoginOut, responses=error_responses(400, 401, 422, 429),
             summary="Log in with a username and password")
def login(body: LoginIn, request: Request, response: Response, s: Session = Depends(get_session),
          rt: Runtime = Depends(get_runtime)) -> dict:
    """Answers the same 401 for an unknown user, a wrong password and a disabled account. After 5 failures in a
    minute for one account or from one client address, 429 with Retry-After (no password is checked then)."""
    client = client_address(request)
    wait = rt.login_limiter.retry_after(body.username, client)
    if wait:
        raise HTTPException(429, f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)})
    user = accounts.verify_login(s, body.username, body.password)
    if user is None:
        rt.login_limiter.failed(body.username, client)
        audit.record(s, None, "auth.login", client=client, outcome="failed", username=body.username)
        s.commit()
        raise HTTPException(401, "invalid username or password")
    rt.login_limiter.succeeded(body.username)
    token, ttl = accounts.open_session(s, user, client, int(rt.cfg.server.session_hours * 3600))
    audit.record(s, None, "auth.login", client=client, username=user.username, object_type="user", object_id=user.id)
    s.commit()
    response.set_cookie(COOKIE, token, max_age=ttl, httponly=True, samesite="strict", path="/",
                        secure=rt.cfg.server.secure_cookies)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


@router.post("/api/auth/logout", status_code=204, responses=error_responses(401, 403))
def logout(request: Request, response: Response, who: Principal = Depends(get_principal),
           s: Session = Depends(get_session)) -> Response:
    """Ends this session (an API token is revoked by an admin instead) and clears the cookie."""
    token, _ = presented_token(request)
    if who.via == "session" and token:
        accounts.close_session(s, token)
        audit.record(s, who, "auth.logout", client=client_address(request))
        s.commit()
    out = Response(status_code=204)
    out.delete_cookie(COOKIE, path="/")
    return out


@router.get("/api/auth/me", response_model=MeOut, responses=error_responses(401))
def me(who: Principal = Depends(get_principal), s: Session = Depends(get_session),
       rt: Runtime = Depends(get_runtime)) -> dict:
    from vigil.access import PERMISSIONS

    view = accounts.user_view(s, s.get(UserRow, who.user_id))
    names = {i: rt.institutions[i].name for i in view["institutions"] if i in rt.institutions}
    return {**view, "permissions": sorted(PERMISSIONS[who.role]), "via": who.via, "institution_names": names}


@router.get("/api/tokens", response_model=list[TokenOut], responses=error_responses(401, 403))
def list_tokens(who: Principal = Depends(require("tokens.manage")), s: Session = Depends(get_session)) -> list[dict]:
    names = dict(s.execute(select(UserRow.id, UserRow.username)).all())
    return [accounts.token_view(r, names.get(r.user_id)) for r in s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))]


@router.post("/api/tokens", response_model=TokenCreated, status_code=201, responses=error_responses(400, 401, 403, 404, 422))
def create_token(body: TokenIn, request: Request, who: Principal = Depends(require("tokens.manage")),
                 s: Session = Depends(get_session)) -> dict:
    user = s.scalar(select(UserRow).where(UserRow.username == body.username))
    if user is None:
        raise HTTPException(404, "no such user")
    row, token = accounts.create_api_token(s, user, body.name, body.days, who.user_id)
    audit.record(s, who, "token.create", client=client_address(request), object_type="api_token", object_id=row.id,
                 after={"name": row.name, "user": user.username, "expires_at": row.expires_at.isoformat()})
    s.commit()
    return {**accounts.token_view(row, user.username), "token": token}


@router.delete("/api/tokens/{token_id:int}", response_model=TokenOut, responses=error_responses(
    401, 403, 404, 409, 422, e409={"description": "The request is authenticated by this very token"}))
def revoke_token(request: Request, token_id: int = Path(ge=1, le=2**31 - 1, examples=[1]),
                 who: Principal = Depends(require("tokens.manage")), s: Session = Depends(get_session)) -> dict:
    """Revoke an API token (it stops working at once). A token cannot revoke itself: an integration would lock
    itself out by mistake; an admin's login can."""
    if who.credential_id == f"token:{token_id}":
        raise HTTPException(409, "this request is authenticated by that token: revoke it with another credential")
    row = accounts.revoke_api_token(s, token_id)
    if row is None:
        raise HTTPException(404, f"API token {token_id} does not exist")
    audit.record(s, who, "token.revoke", client=client_address(request), object_type="api_token", object_id=row.id)
    s.commit()
    user = s.get(UserRow, row.user_id)
    return accounts.token_view(row, user.username if user else None)
