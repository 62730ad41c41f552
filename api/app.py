"""The FastAPI application: one router per resource, the review UI served at /."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from vigil.api.routers import cameras, events, health, metrics
from vigil.service import Runtime

UI_DIR = Path(__file__).resolve().parent.parent / "review_ui"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="vigil", version="0.1.0",
                  description="Remote video safety supervision: cameras, rule events and their review.")
    app.state.runtime = runtime
    for r in (health.router, cameras.router, events.router, metrics.router):
        app.include_router(r)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # say what was wrong, field by field; never echo raw input back (it may carry secrets)
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": summary, "errors": errors}, status_code=422)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app
