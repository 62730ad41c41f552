"""One error body for the whole API (`ErrorOut`), its OpenAPI documentation per route, and the
handler that turns request validation errors into it."""
from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vigil.api.schemas import ErrorOut

DESCRIPTIONS = {
    400: "The request body could not be parsed",
    401: "Not authenticated: no, unknown, expired or revoked credentials (WWW-Authenticate: Bearer)",
    403: "Authenticated, but the role may not do this, or a cross-site cookie write was refused",
    404: "Not found; detail says what",
    409: "Conflict with the resource's state; detail says which",
    413: "The upload is larger than the configured limit",
    422: "Invalid parameters or body: detail sums up, errors lists each field",
    429: "Too many failed logins; Retry-After says when to try again",
    503: "Not available yet; try again later",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds until it should be ready", "schema": {"type": "integer"}}}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def error_responses(*codes: int, **overrides: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting `ErrorOut` for each status code a route really returns.
    Naming 422 here replaces FastAPI's default HTTPValidationError, which is not what the API sends.
    `overrides`: extra OpenAPI fields per code, keyed `e404=...`."""
    return {code: {"model": ErrorOut, "description": DESCRIPTIONS[code], **overrides.get(f"e{code}", {})}
            for code in codes}


def _loc_part(part: Any) -> str | int:
    # the parameter and field names are ours; a name the client made up (an unknown body key) is not echoed
    return part if isinstance(part, int) or _NAME.match(str(part)) else "<unknown>"


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    # say what was wrong, field by field; never echo raw input back (it may carry secrets)
    errors = [{"loc": [_loc_part(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse({"detail": summary, "errors": errors}, status_code=422)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute of the app, through included routers (FastAPI >= 0.16x wraps them in `_IncludedRouter`;
    vigil's routers have no prefix, so their paths are the app's)."""
    out: list[APIRoute] = []

    def walk(routes) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            elif hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif hasattr(r, "routes") and not hasattr(r, "app"):
                walk(r.routes)

    walk(app.routes)
    return out


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)

    @app.middleware("http")
    async def _allow_header(request: Request, call_next):
        """Starlette's 405 names only the methods of the first route whose path matched; a resource served by
        several routes (GET and POST /api/tokens) must advertise all of them (RFC 9110 Allow)."""
        response = await call_next(request)
        if response.status_code == 405:
            path = request.url.path
            methods = sorted({m for r in api_routes(app) if r.path_regex.match(path) for m in r.methods} - {"HEAD"})
            if methods:
                response.headers["Allow"] = ", ".join(methods)
        return response
