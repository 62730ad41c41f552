"""`GET /metrics`: Prometheus text exposition of camera, detector and event state (no client library)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse

from vigil.api.deps import get_runtime
from vigil.api.errors import error_responses
from vigil.api.security import metrics_access
from vigil.service import Runtime

router = APIRouter(tags=["metrics"])

# name, type, help, status key (per camera)
CAMERA_METRICS = [
    ("vigil_camera_up", "gauge", "1 while the camera delivers frames", None),
    ("vigil_camera_fps", "gauge", "Frames per second decoded", "fps"),
    ("vigil_camera_detect_hz", "gauge", "Detection frames per second", "detect_hz"),
    ("vigil_camera_lag_seconds", "gauge", "Decode to rules-done delay of the last detection frame", "lag_s"),
    ("vigil_camera_queue_depth", "gauge", "Frames waiting between reader and processor", "queue_depth"),
    ("vigil_camera_frames_total", "counter", "Frames decoded", "frames"),
    ("vigil_camera_detections_total", "counter", "Frames run through detector and rules", "detections"),
    ("vigil_camera_dropped_frames_total", "counter", "Frames dropped because the processor was busy", "dropped_frames"),
    ("vigil_camera_reconnects_total", "counter", "Reconnects after a lost stream", "reconnects"),
    ("vigil_camera_person_checks_total", "counter", "Object-model calls made on demand to check a smoke box against persons", "person_checks"),
]

# name, type, help, value of a detector
DETECTOR_METRICS = [
    ("vigil_inference_ms", "gauge", "Duration of the last inference", lambda d: d.last_ms),
    ("vigil_inference_seconds_total", "counter", "Time spent in inference", lambda d: d.total_ms / 1000),
    ("vigil_inferences_total", "counter", "Inferences run", lambda d: d.calls),
]


def _num(value) -> str:
    """Exact text for a sample value: counters stay whole numbers, floats keep every digit."""
    return str(value) if isinstance(value, int) else repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(rt: Runtime) -> str:
    lines: list[str] = []
    statuses = {cid: p.status() for cid, p in rt.processors.items()}
    for name, kind, help_, key in CAMERA_METRICS:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for cid, st in statuses.items():
            value = int(st["status"] == "online") if key is None else (st.get(key) or 0)
            lines.append(f'{name}{{camera="{_label(cid)}"}} {_num(value)}')
    detectors = [(role, det) for role, det in (("objects", rt.detector), ("fire", rt.fire_detector)) if det is not None]
    for name, kind, help_, value in DETECTOR_METRICS:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for role, det in detectors:
            lines.append(f'{name}{{model="{_label(det.path.name)}",role="{role}"}} {_num(value(det))}')
    lines += ["# HELP vigil_rule_alarm 1 while a rule has an open event", "# TYPE vigil_rule_alarm gauge"]
    for r in rt.rule_status():
        lines.append(f'vigil_rule_alarm{{camera="{_label(r["camera_id"])}",zone="{_label(r["zone"] or "")}",'
                     f'rule="{r["rule"]}"}} {1 if r["status"] == "alarm" else 0}')
    lines += rt.notify.metric_lines()  # event spool and notification dispatcher
    if rt.role == "control":  # cluster mode: the cameras run on the nodes; their record is in the database
        from vigil.cluster.report import metric_lines
        with rt.sessions() as s:
            lines += metric_lines(s)
    return "\n".join(lines) + "\n"


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(401, 403)})
def metrics(rt: Runtime = Depends(get_runtime), _: str = Depends(metrics_access)) -> PlainTextResponse:
    """Needs the configured `server.metrics_token` as a bearer token, or an admin's credential."""
    return PlainTextResponse(render(rt), media_type="text/plain; version=0.0.4; charset=utf-8")
