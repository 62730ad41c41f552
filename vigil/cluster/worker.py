"""`CameraNodeWorker`: what runs on each node of a cluster (one Ray actor per node, pinned to it).

It holds a `Runtime` in the `cameras` role (vigil/service.py) and runs the cameras the `ClusterMaintainer` gives it:
readers, the batched detection scheduler, rules, evidence, and event writes to the shared PostgreSQL. A camera that
comes to it continues the events its previous node left open and records its gap (CameraProcessor.take_over); one
taken away stops without ending them. Its media and spool live under `storage.data_dir/nodes/<node>`.

As a stand-in (`standin=True`, the county-scale control-plane test) it only holds the camera ids: the maintainer's
code path is the same, nothing decodes.

This module does not import Ray: vigil/cluster/ray_backend.py wraps the class as an actor."""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("vigil.cluster")


class CameraNodeWorker:
    def __init__(self, cfg: dict, node: str, *, standin: bool = False):
        self.node, self.standin = node, standin
        self.cameras: set[str] = set()
        self.assigned_at: dict[str, float] = {}
        self.warm: set[str] = set()
        self._lock = threading.Lock()
        self.rt = None
        if not standin:
            from vigil.config import VigilConfig
            from vigil.service import Runtime

            c = VigilConfig.model_validate(cfg)
            self.rt = Runtime(c, start_cameras=False, role="cameras",
                              data_dir=Path(c.storage.data_dir).resolve() / "nodes" / node)
            self.rt.only = set()
            self.rt.store.db_prefix = f"@{node}/"  # media paths name this node: the API fetches them from here
            self.rt.store.fence = self._holds
            self.rt.start()
            threading.Thread(target=self._watch_raylet, name="raylet-watch", daemon=True).start()
        log.info("cluster node %s: worker up (%s)", node, "stand-in" if standin else "cameras")

    def assign(self, cameras: list[str], handover: dict[str, dict] | None = None, warm: list[str] | None = None) -> dict:
        """Hold exactly `cameras` from now on. `handover`: camera -> {last_seen (ISO time of its last frame on its
        previous node), from, reason} for those that come from another node. `warm`: cameras about to come here from
        a live node: their readers open now, so that their move costs no decoder start. Returns what changed."""
        with self._lock:
            self.warm = set(warm or ())
            now = time.time()
            new = set(cameras)
            for cid in new - self.cameras:
                self.assigned_at[cid] = now
            for cid in self.cameras - new:
                self.assigned_at.pop(cid, None)
            self.cameras = new
            done: dict = {}
            if self.rt is not None:
                for cid, h in (handover or {}).items():
                    seen = h.get("last_seen")
                    self.rt.handover[cid] = {**h, "last_seen": datetime.fromisoformat(seen) if seen else None}
                self.rt.only = set(new)
                done = self.rt.apply_inventory()
                self.rt.warm_up(self.warm - new)
            return {"node": self.node, "cameras": len(new), **{k: len(v) for k, v in done.items()}}

    def heartbeat(self) -> dict:
        """The node's cameras as it sees them: per camera the reader's status, when its last frame came (time.time()),
        the lag, detection rate, when its first frame went through the rules here, and the gap of its move."""
        now = time.time()
        cams: dict[str, dict] = {}
        if self.rt is None:
            cams = {cid: {"status": "standin", "last_frame": now, "lag_s": 0.0, "detect_hz": 0.0,
                          "first_rules": self.assigned_at.get(cid), "gap_s": None} for cid in self.cameras}
        else:
            for cid, proc in list(self.rt.processors.items()):
                st = proc.status()
                last = proc.reader.last_frame
                cams[cid] = {"status": st["status"], "last_frame": last.wall if last is not None else None,
                             "lag_s": st["lag_s"], "detect_hz": st["detect_hz"], "first_rules": proc.first_rules_wall,
                             "gap_s": proc.gap_s}
        # cameras about to come here: True once their reader has a frame (the maintainer then lets the old node go)
        warm = {cid: True for cid in self.warm} if self.rt is None else self.rt.warm_status()
        out = {"node": self.node, "at": now, "cameras": cams, "warm": warm}
        det = getattr(self.rt, "detector", None)
        if det is not None and hasattr(det, "bytes_sent"):  # Serve inference: what crossed the wire
            out["inference"] = {"calls": det.calls, "bytes": det.bytes_sent}
        return out

    def _holds(self, session, camera_id: str) -> bool:
        """The store's fence: this node still holds the camera on the maintainer's record."""
        from sqlalchemy import select

        from vigil.api.db_cluster import CameraHolderRow

        return session.scalar(select(CameraHolderRow.node).where(CameraHolderRow.camera_id == camera_id)) == self.node

    def _watch_raylet(self) -> None:
        """The raylet that started this process is gone (its node was killed): stop at once rather than run on for
        the moment Ray takes to notice (the fence drops what such a process would still write)."""
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(0.2)
        log.error("cluster node %s: its raylet is gone; this worker exits", self.node)
        os._exit(1)

    def media(self, rel: str) -> bytes | None:
        """A media file of this node (snapshot or clip, path under its media dir), for the API to serve."""
        if self.rt is None:
            return None
        root = self.rt.store.media_dir.resolve()
        p = (root / rel).resolve()
        return p.read_bytes() if root in p.parents and p.is_file() else None

    def live(self, method: str, *args, **kwargs) -> dict:
        """The API's live view of a camera this node holds (snapshot, MJPEG frames, overlay, WebRTC offer and hang-up):
        LocalFeed.call's reply. The WebRTC session runs on this node's relay; only the SDP crosses."""
        if self.rt is None:
            return {"error": {"status": 409, "detail": f"node {self.node} runs no cameras (a stand-in)"}}
        return self.rt.feed.call(method, *args, **kwargs)

    def ping(self) -> str:
        return self.node

    def stop(self) -> None:
        if self.rt is not None:
            self.rt.stop()
            self.rt = None


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None
