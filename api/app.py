"""The FastAPI application: one router per resource, the review UI served at /."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from vigil.api import errors
from vigil.api.routers import cameras, events, health, metrics
from vigil.service import Runtime

UI_DIR = Path(__file__).resolve().parent.parent / "review_ui"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="vigil", version="0.1.0",
                  description="Remote video safety supervision: cameras, rule events and their review.")
    app.state.runtime = runtime
    for r in (health.router, cameras.router, events.router, metrics.router):
        app.include_router(r)

    errors.install(app)  # 422 bodies are ErrorOut, as documented on every route

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app
