"""The cluster's record in PostgreSQL (api/db_cluster.py), as the `ClusterMaintainer` keeps it: the camera holders
it takes back when Ray restarts it, each move with its reason and gap, and the nodes, holders and lag every
`report_s` (what `vigil cluster status` and /metrics read). A part of the maintainer, kept apart for its size."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from sqlalchemy import select, update

log = logging.getLogger("vigil.cluster")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


class ClusterRecord:
    def _load_holders(self) -> None:
        from vigil.api.db_cluster import CameraHolderRow

        with self.sessions() as s:
            for r in s.scalars(select(CameraHolderRow)).all():
                self.generation[r.camera_id] = r.generation
                if r.node:
                    self.assignment[r.camera_id] = r.node
                if r.last_frame_at:
                    self.last_frame[r.camera_id] = r.last_frame_at.timestamp()

    def _record_moves(self, p) -> None:
        """Each move on record with its reason, and the holders updated: in bulk (a lost node may move hundreds)."""
        from sqlalchemy import insert

        from vigil.api.db_cluster import CameraHolderRow, ClusterMoveRow

        fresh = [m for m in p.moves if m.dst is not None or m.camera not in self.unplaced]  # "no room" once, not per tick
        self.unplaced = set(p.unplaced)
        if not fresh:
            return
        now = datetime.now(timezone.utc)
        moves = []
        for m in fresh:
            why = self.lost[m.src][1] if m.reason == "node lost" and m.src in self.lost else m.reason
            self.generation[m.camera] = self.generation.get(m.camera, 0) + 1
            moves.append({"at": now, "camera_id": m.camera, "src": m.src, "dst": m.dst, "reason": why})
        cams = [m["camera_id"] for m in moves]
        with self.sessions.begin() as s:
            ids = s.execute(insert(ClusterMoveRow).returning(ClusterMoveRow.id, ClusterMoveRow.camera_id,
                                                             sort_by_parameter_order=True), moves).all()
            known = set(s.scalars(select(CameraHolderRow.camera_id).where(CameraHolderRow.camera_id.in_(cams))).all())
            holders = [{"camera_id": m["camera_id"], "node": m["dst"], "generation": self.generation[m["camera_id"]],
                        "since": now} for m in moves]
            if known:
                s.execute(update(CameraHolderRow), [h for h in holders if h["camera_id"] in known])
            if len(known) < len(holders):
                s.execute(insert(CameraHolderRow), [h for h in holders if h["camera_id"] not in known])
        for (row_id, cid), m in zip(ids, moves):
            if m["src"] is not None:
                self.open_gaps[cid] = row_id
            self.moves.append({"at": now.isoformat(), "camera": cid, "from": m["src"], "to": m["dst"],
                               "reason": m["reason"]})
        log.info("cluster: %d camera move(s): %s", len(moves), ", ".join(
            sorted({f"{m['src']}->{m['dst']} ({m['reason']})" for m in moves})))

    def _report(self) -> None:
        from vigil.api.db_cluster import CameraHolderRow, ClusterMoveRow, ClusterNodeRow

        self._reported_at = time.monotonic()
        now = datetime.now(timezone.utc)
        counts: dict[str, int] = {}
        for node in self.assignment.values():
            counts[node] = counts.get(node, 0) + 1
        with self.sessions.begin() as s:
            known = {r.name: r for r in s.scalars(select(ClusterNodeRow)).all()}
            for name, d in self.nodes.items():
                row = known.get(name)
                if row is None:
                    row = ClusterNodeRow(name=name, ray_node_id=d.ray_node_id, joined_at=now)
                    s.add(row)
                alive = name in self.workers
                hb = self.heartbeats.get(name)
                row.ray_node_id, row.address, row.capacity, row.alive = d.ray_node_id, d.address, d.capacity, alive
                row.cameras = counts.get(name, 0)
                row.last_seen = utc(hb["at"]) if hb else row.last_seen
                row.lost_at = utc(self.lost[name][0]) if name in self.lost else None
            for name, row in known.items():  # nodes Ray no longer lists (removed after their death)
                if name not in self.nodes and row.alive:
                    row.alive, row.cameras = False, 0
                    row.lost_at = utc(self.lost[name][0]) if name in self.lost else now
            rows = []
            for cid, c in self.camera_status.items():
                if self.assignment.get(cid) != c["node"]:
                    continue
                rows.append({"camera_id": cid, "status": c["status"], "lag_s": c["lag_s"], "detect_hz": c["detect_hz"],
                             "last_frame_at": utc(c["last_frame"]) if c.get("last_frame") else None,
                             "reported_at": now})
                if c.get("gap_s") is not None and cid in self.open_gaps:
                    s.execute(update(ClusterMoveRow).where(ClusterMoveRow.id == self.open_gaps.pop(cid))
                              .values(gap_s=round(float(c["gap_s"]), 2)))
            if rows:
                s.execute(update(CameraHolderRow), rows)

