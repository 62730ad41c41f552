"""Authentication and scope, in one place: every route but login, the public health line and the UI shell asks
`require(ACTION)` for a `Principal` (vigil/access.py), and every query, media URL and live stream filters by
`visible_institutions` / `check_visible` from here. An object outside the caller's scope answers 404.

Credentials: `Authorization: Bearer <token>` (a login's access token or an API token `vgt_...`), or the HttpOnly
session cookie the browser got at login. A cookie-authenticated write (POST, PUT, PATCH, DELETE) must come from
the API's own origin (or `server.allowed_origins`): its Origin header (else Referer) is checked, so another site
cannot make a logged-in browser act (CSRF). Bearer requests carry no ambient credential and are not checked.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from vigil.access import Principal, Scope
from vigil.accounts import principal_for_token
from vigil.api.deps import get_runtime, get_session
from vigil.service import Runtime

COOKIE = "vigil_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigil"'}


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def presented_token(request: Request) -> tuple[str | None, str]:
    """(token, 'bearer' | 'cookie') from the request; (None, '') when there is none."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(COOKIE)
    return (cookie, "cookie") if cookie else (None, "")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def check_same_origin(request: Request, rt: Runtime) -> None:
    """Refuse a cookie-authenticated write from another site (403)."""
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()
    allowed = {own} | {o.rstrip("/").lower() for o in rt.cfg.server.allowed_origins}
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("referer"):
        origin = _origin_of(request.headers["referer"])
    if origin is None:
        raise HTTPException(403, "cross-site request refused: a cookie-authenticated write needs an Origin header")
    if origin.rstrip("/").lower() not in allowed:
        raise HTTPException(403, "cross-site request refused: the Origin is not this site")


def get_principal(request: Request, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)) -> Principal:
    token, how = presented_token(request)
    if token is None:
        raise HTTPException(401, "authentication required: log in, or send Authorization: Bearer <token>",
                            headers=CHALLENGE)
    who = principal_for_token(s, token)
    if who is None:
        raise HTTPException(401, "the session or token is unknown, expired or revoked, or its user is disabled",
                            headers=CHALLENGE)
    if who.via == "token":
        s.commit()  # the token's last use
    if how == "cookie" and request.method in UNSAFE:
        check_same_origin(request, rt)
    request.state.principal = who
    return who


def require(action: str) -> Callable[..., Principal]:
    """A dependency: the caller, who must be authenticated and whose role must allow `action` (else 401/403)."""
    from vigil.access import ACTIONS

    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def dependency(who: Principal = Depends(get_principal)) -> Principal:
        if not who.can(action):
            raise HTTPException(403, f"a {who.role} may not do this ({action})")
        return who

    dependency.__name__ = f"require_{action.replace('.', '_')}"
    return dependency


def visible_institutions(rt: Runtime, who: Principal) -> frozenset[str] | None:
    """The institution ids the caller may see (None: all)."""
    return who.scope.institution_ids(rt.regions_by_institution())


def can_see(rt: Runtime, who: Principal, institution_id: str) -> bool:
    regions = rt.regions_by_institution()
    return who.scope.covers(institution_id, regions.get(institution_id))


def check_visible(rt: Runtime, who: Principal, institution_id: str, what: str) -> None:
    """404 (`what` does not exist) when the object's institution is outside the caller's scope."""
    if not can_see(rt, who, institution_id):
        raise HTTPException(404, f"{what} does not exist")


def metrics_access(request: Request, s: Session = Depends(get_session), rt: Runtime = Depends(get_runtime)) -> str:
    """/metrics: the configured `server.metrics_token`, or an admin's credential."""
    token, _ = presented_token(request)
    configured = rt.cfg.server.metrics_token
    if token and configured and hmac.compare_digest(token.encode(), configured.get_secret_value().encode()):
        return "metrics-token"
    who = principal_for_token(s, token) if token else None
    if who is None:
        raise HTTPException(401, "metrics need the configured bearer token (server.metrics_token) or an admin login",
                            headers=CHALLENGE)
    if not who.can("metrics.read"):
        raise HTTPException(403, f"a {who.role} may not read metrics")
    return who.username


__all__ = ["COOKIE", "Scope", "can_see", "check_visible", "client_address", "get_principal", "metrics_access",
           "presented_token", "require", "visible_institutions"]
