"""The FastAPI application: one router per resource, the web app (review_ui/, built into review_ui/dist) served at
/app/."""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from vigil.access import Principal
from vigil.api import errors
from vigil.api.security import get_principal
from vigil.api.routers import audit, auth, cameras, events, health, metrics
from vigil.api.routers import notifications
from vigil.api.routers import hazards
from vigil.api.routers import stats
from vigil.api.routers import reports
from vigil.api.routers import complaints
from vigil.api.routers import users
from vigil.api.routers import live
from vigil.api.routers import inventory_cameras, inventory_institutions, inventory_regions, inventory_schema
from vigil.service import Runtime

WEB_DIST = Path(__file__).resolve().parent.parent / "review_ui" / "dist"  # the Vue app, built by `make web`
log = logging.getLogger("vigil.api")


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="vigil", version="0.1.0", openapi_url=None, docs_url=None, redoc_url=None,
                  description="Remote video safety supervision: cameras, rule events and their review. Every "
                              "operation but login and the public health line needs a session or a bearer token.")
    app.state.runtime = runtime
    for r in (auth.router, health.router, cameras.router, events.router, audit.router, metrics.router,
              inventory_regions.router, inventory_institutions.router, inventory_cameras.router,
              notifications.router, hazards.router, stats.router, reports.router, complaints.router,
              users.router, live.router, inventory_schema.router):
        app.include_router(r)

    errors.install(app)  # 422 bodies are ErrorOut, as documented on every route

    @app.get("/openapi.json", include_in_schema=False)
    def _openapi(_: Principal = Depends(get_principal)) -> JSONResponse:
        """The API description, for logged-in users and integrations only (like every route but login and health)."""
        return JSONResponse(app.openapi())

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/app/")

    if (WEB_DIST / "index.html").is_file():
        app.mount("/app", StaticFiles(directory=WEB_DIST, html=True), name="app")
    else:
        log.warning("web app not built (%s missing): /app/ is not served; run `make web`", WEB_DIST / "index.html")
    return app
