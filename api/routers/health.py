from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text

from vigil.api.deps import get_runtime
from vigil.api.schemas import Health
from vigil.service import Runtime

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health, summary="Service, camera and rule status")
def health(rt: Runtime = Depends(get_runtime)) -> dict:
    try:
        with rt.engine.connect() as c:
            c.execute(text("SELECT 1"))
        db = "ok"
    except Exception as exc:  # report, do not crash the health page
        db = f"error: {type(exc).__name__}"
    cams = [rt.camera_info(c.id) for c in rt.cfg.cameras]
    degraded = db != "ok" or any(c["enabled"] and c["status"] != "online" for c in cams)
    from vigil.models.cpu import cpu_info

    return {"status": "degraded" if degraded else "ok", "database": db, "cpu": cpu_info().label(),
            "models": rt.model_status(), "cameras": cams, "rules": rt.rule_status()}
