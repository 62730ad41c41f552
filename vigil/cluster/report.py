"""What `vigil cluster status`, `/metrics` and the API say about a cluster: read from the maintainer's record in the
database (api/db_cluster.py), so no Ray connection is needed and every stateless API process says the same."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.api.db_cluster import CameraHolderRow, ClusterMoveRow, ClusterNodeRow


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def cluster_report(s: Session, moves: int = 20) -> dict[str, Any]:
    """Nodes (capacity, alive, cameras held, lag p50 / max of their cameras), the cameras no node holds, and the
    last `moves` moves with their reasons and gaps."""
    holders = s.scalars(select(CameraHolderRow)).all()
    lags: dict[str | None, list[float]] = {}
    for h in holders:
        lags.setdefault(h.node, []).append(h.lag_s or 0.0)
    nodes = []
    for n in s.scalars(select(ClusterNodeRow).order_by(ClusterNodeRow.name)).all():
        lag = sorted(lags.get(n.name, []))
        nodes.append({"name": n.name, "address": n.address, "capacity": n.capacity, "alive": n.alive,
                      "cameras": n.cameras if n.alive else 0, "lag_p50_s": lag[len(lag) // 2] if lag else None,
                      "lag_max_s": lag[-1] if lag else None, "last_seen": _iso(n.last_seen), "lost_at": _iso(n.lost_at)})
    recent = s.scalars(select(ClusterMoveRow).order_by(ClusterMoveRow.id.desc()).limit(moves)).all()
    return {
        "nodes": nodes,
        "cameras": len(holders),
        "unplaced": sorted(h.camera_id for h in holders if h.node is None),
        "moves": [{"at": _iso(m.at), "camera": m.camera_id, "from": m.src, "to": m.dst, "reason": m.reason,
                   "gap_s": m.gap_s} for m in reversed(recent)],
    }


def report_lines(rep: dict[str, Any]) -> list[str]:
    out = [f"{'node':<16} {'alive':<5} {'cameras':>7} {'capacity':>8} {'lag p50':>8} {'lag max':>8}  last seen"]
    for n in rep["nodes"]:
        lag = lambda v: f"{v:.2f}s" if v is not None else "-"  # noqa: E731
        out.append(f"{n['name']:<16} {'yes' if n['alive'] else 'NO':<5} {n['cameras']:>7} {n['capacity']:>8.0f} "
                   f"{lag(n['lag_p50_s']):>8} {lag(n['lag_max_s']):>8}  {n['last_seen'] or '-'}")
    out.append(f"{rep['cameras']} camera(s) on record; without a node: {', '.join(rep['unplaced']) or 'none'}")
    if rep["moves"]:
        out.append("recent moves:")
        for m in rep["moves"]:
            gap = f", gap {m['gap_s']:.1f} s" if m["gap_s"] is not None else ""
            out.append(f"  {m['at']}  {m['camera']}: {m['from'] or '-'} -> {m['to'] or '(no room)'}  ({m['reason']}{gap})")
    return out


def metric_lines(s: Session) -> list[str]:
    """Prometheus series per node and per camera held, from the record (the control side's /metrics)."""
    from sqlalchemy import func

    rep = cluster_report(s, moves=0)
    out = []
    series = [("vigil_cluster_node_up", "1 while the node's worker answers", lambda n: int(n["alive"])),
              ("vigil_cluster_node_cameras", "Cameras the node holds", lambda n: n["cameras"]),
              ("vigil_cluster_node_capacity", "Camera units the node declared", lambda n: n["capacity"]),
              ("vigil_cluster_node_lag_seconds_max", "Largest capture-to-rules lag of the node's cameras",
               lambda n: n["lag_max_s"] or 0.0)]
    for name, help_, value in series:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        out += [f'{name}{{node="{n["name"]}"}} {float(value(n))!r}' for n in rep["nodes"]]
    out += ["# HELP vigil_cluster_camera_lag_seconds Capture-to-rules lag of a camera, by the node holding it",
            "# TYPE vigil_cluster_camera_lag_seconds gauge"]
    for h in s.scalars(select(CameraHolderRow).where(CameraHolderRow.node.is_not(None))).all():
        out.append(f'vigil_cluster_camera_lag_seconds{{camera="{h.camera_id}",node="{h.node}"}} {float(h.lag_s or 0.0)!r}')
    out += ["# HELP vigil_cluster_moves_total Cameras moved between nodes, by reason",
            "# TYPE vigil_cluster_moves_total counter"]
    for reason, n in s.execute(select(ClusterMoveRow.reason, func.count()).group_by(ClusterMoveRow.reason)).all():
        out.append(f'vigil_cluster_moves_total{{reason="{reason}"}} {n}')
    return out
