"""`/api/health` (public: the status line only, no camera names) and `/api/status` (the full picture, scoped)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text

from vigil.access import Principal
from vigil.api.deps import get_runtime
from vigil.api.errors import error_responses
from vigil.api.schemas import Health, Status
from vigil.api.security import can_see, require
from vigil.service import Runtime

router = APIRouter(tags=["health"])


def _database(rt: Runtime) -> str:
    try:
        with rt.engine.connect() as c:
            c.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # report, do not crash the health page
        return f"error: {type(exc).__name__}"


def _summary(rt: Runtime, cams: list[dict]) -> dict:
    db = _database(rt)
    degraded = db != "ok" or any(c["enabled"] and c["status"] != "online" for c in cams)
    return {"status": "degraded" if degraded else "ok", "database": db}


@router.get("/api/health", response_model=Health, summary="Service status (public: no names, no details)")
def health(rt: Runtime = Depends(get_runtime)) -> dict:
    """For load balancers and uptime checks: ok or degraded, the database, and how many cameras are online."""
    cams = [rt.camera_info(c) for c in list(rt.cfg.cameras)]
    enabled = [c for c in cams if c["enabled"]]
    return {**_summary(rt, cams), "cameras_enabled": len(enabled),
            "cameras_online": sum(c["status"] == "online" for c in enabled)}


@router.get("/api/status", response_model=Status, responses=error_responses(401, 403),
            summary="Service, CPU, models, and the caller's cameras and rules")
def status(rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.read"))) -> dict:
    from vigil.models.cpu import cpu_info

    cams = [rt.camera_info(c) for c in sorted(rt.cfg.cameras, key=lambda c: c.id) if can_see(rt, who, c.institution)]
    mine = {c["id"] for c in cams}
    return {**_summary(rt, cams), "cpu": cpu_info().label(), "models": rt.model_status(), "cameras": cams,
            "rules": [r for r in rt.rule_status() if r["camera_id"] in mine]}
