"""`ClusterMaintainer`: the one loop that runs a county's cameras over a Ray cluster (issue #19).

Each tick (`tick_s`, 1 s by default) it
1. reads the nodes that declared room for cameras from Ray (alive or dead: ray_backend.declared_nodes) and starts a
   `CameraNodeWorker` pinned to each live one;
2. asks every worker for its heartbeat in parallel; a worker whose actor died (its node went, or its process) is
   lost at once, one that is only slow keeps its cameras;
3. places the enabled cameras of the inventory (vigil/cluster/placement.py: sticky, capacity-bound, hysteresis);
4. sends each changed node its new set without waiting for the answer: a camera moving from a live node is made
   before it is broken (its new node opens the stream first, the old one lets it go once that stream has frames) and
   goes to its new node only once the old one has confirmed letting it go, so no camera ever runs on two nodes; a camera of a
   lost node goes at once, with the time of its last frame there (the new node records the gap as camera_offline
   when it reaches `offline_after_s`, and continues the events left open);
5. records nodes, holders and moves in PostgreSQL (api/db_cluster.py) every `report_s` (vigil/cluster/record.py).

The loop never blocks on a node: answers are collected on later ticks. Nothing here decodes video."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import select

from vigil.cluster.placement import Node, place
from vigil.cluster.ray_backend import DeclaredNode, actor_died, declared_nodes, worker_actor
from vigil.cluster.record import ClusterRecord
from vigil.cluster.worker import iso

log = logging.getLogger("vigil.cluster")
WARM_WAIT_S = 15.0  # the longest an old node keeps a camera for its new node's reader to get a frame


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), from /proc."""
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class ClusterMaintainer(ClusterRecord):
    def __init__(self, cfg: dict, *, standin: bool = False, start: bool = True):
        from vigil.api.db import make_engine, make_sessionmaker
        from vigil.api.migrate import upgrade
        from vigil.config import VigilConfig

        c = VigilConfig.model_validate(cfg)
        url = c.storage.database_url or ""
        if not url.startswith("postgresql"):
            raise ValueError("cluster mode keeps its record in PostgreSQL, which every node reaches: set "
                             "storage.database_url to a postgresql:// URL (the embedded SQLite is one machine's)")
        self.cfg, self.settings, self.standin = cfg, c.cluster, standin
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.workers: dict[str, Any] = {}  # node name -> actor handle
        self.nodes: dict[str, DeclaredNode] = {}
        self.acked: dict[str, frozenset[str]] = {}  # node -> the cameras its worker confirmed holding
        self.pending: dict[str, tuple[Any, frozenset[str], float]] = {}  # node -> (answer, cameras asked, since)
        self.lost: dict[str, tuple[float, str]] = {}  # node -> (when, why)
        self.heartbeats: dict[str, dict] = {}
        self.hb_refs: dict[str, Any] = {}  # node -> its heartbeat in flight
        self.ready: set[str] = set()  # nodes whose worker has answered a heartbeat
        self.last_frame: dict[str, float] = {}  # camera -> time of its last frame, wherever it ran
        self.camera_status: dict[str, dict] = {}
        self.assignment: dict[str, str] = {}
        self.unplaced: set[str] = set()  # cameras no live node has room for (recorded once)
        self.generation: dict[str, int] = {}
        self.warm_sent: dict[str, frozenset[str]] = {}  # node -> cameras it was asked to open ahead of their move
        self.warm_since: dict[str, float] = {}  # camera -> since when its old node keeps it for the new one's reader
        self.open_gaps: dict[str, int] = {}  # camera -> cluster_moves id waiting for its gap
        self.moves: deque = deque(maxlen=1000)  # recent moves: dicts, newest last
        self.tick_ms: deque = deque(maxlen=300)
        self.phase_max_ms: dict[str, float] = {}  # the slowest of each part of a tick so far (wall)
        self.phase_cpu_max_ms: dict[str, float] = {}  # and the most CPU time it took (the loop's thread)
        self.ticks = 0
        self.started_at = time.time()
        self._cams: dict[str, float] = {}
        self._cams_at = 0.0
        self._reported_at = 0.0
        self._load_holders()
        if c.cluster.inference == "serve":  # the nodes' object model as one batched Serve deployment
            from vigil.cluster.serve_detector import deploy
            deploy(c)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.collector = None
        if c.cluster.evidence_copy_s and not standin:  # the nodes' evidence copied to the head as it appears
            from vigil.api.media_files import media_dir_of
            from vigil.cluster.collector import EvidenceCollector
            self.collector = EvidenceCollector(self.sessions, media_dir_of(c.storage.data_dir),
                                               self._node_media, every_s=c.cluster.evidence_copy_s)
            if start:
                self.collector.start()
        if start:
            self._thread = threading.Thread(target=self._run, name="cluster-maintainer", daemon=True)
            self._thread.start()

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a database or GCS blink: the next tick tries again
                log.exception("cluster maintainer: tick failed")
            self._stop.wait(max(0.0, self.settings.tick_s - (time.monotonic() - t0)))

    def tick(self) -> None:
        import ray

        t0 = time.monotonic()
        self.ticks += 1
        phases: dict[str, float] = {}

        cpu: dict[str, float] = {}
        mark = [t0, time.thread_time()]

        def lap(name: str) -> None:  # wall and this thread's CPU time of each part of the tick
            now, now_cpu = time.monotonic(), time.thread_time()
            phases[name] = round((now - mark[0]) * 1000, 1)
            cpu[name] = round((now_cpu - mark[1]) * 1000, 1)
            mark[0], mark[1] = now, now_cpu

        declared = {d.name: d for d in declared_nodes(ray.nodes())}
        for name in [n for n in self.workers if n not in declared or not declared[n].alive]:
            self._lose(name, "node lost")
        lap("nodes")
        for name, d in declared.items():
            if d.alive and name not in self.workers:
                self.workers[name] = worker_actor(d, self.cfg, standin=self.standin)
                self.lost.pop(name, None)
                log.info("cluster: node %s (%s, %.0f camera units) joined", name, d.address, d.capacity)
        self.nodes = declared
        lap("workers")
        self._heartbeats()
        self._collect_answers()
        lap("heartbeats")
        # a node takes cameras once its worker has answered (started, models loaded): a camera moved to a node still
        # starting would wait there without frames
        nodes = [Node(n, d.capacity, alive=n in self.workers and n in self.ready) for n, d in declared.items()]
        p = place(self._cameras(), nodes, self.assignment, hysteresis=self.settings.hysteresis,
                  max_moves=self.settings.max_moves)
        lap("place")
        self._record_moves(p)
        self.assignment = p.assignment
        lap("record")
        self._send()
        lap("send")
        if time.monotonic() - self._reported_at >= self.settings.report_s:
            self._report()
            lap("report")
        self.tick_ms.append((time.monotonic() - t0) * 1000)
        for k, v in phases.items():
            self.phase_max_ms[k] = max(self.phase_max_ms.get(k, 0.0), v)
            self.phase_cpu_max_ms[k] = max(self.phase_cpu_max_ms.get(k, 0.0), cpu[k])

    def _heartbeats(self) -> None:
        """One heartbeat in flight per worker; those answered within `heartbeat_wait_s` are read now, the others on a
        later tick (a worker still starting, or busy, keeps its cameras)."""
        import ray

        for name, w in self.workers.items():
            if name not in self.hb_refs:
                self.hb_refs[name] = w.heartbeat.remote()
        if not self.hb_refs:
            return
        refs = list(self.hb_refs.values())
        ready = set(ray.wait(refs, num_returns=len(refs), timeout=self.settings.heartbeat_wait_s)[0])
        for name, ref in list(self.hb_refs.items()):
            if ref not in ready:
                continue
            del self.hb_refs[name]
            try:
                hb = ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                if actor_died(exc):
                    self._lose(name, "worker died")
                else:
                    log.warning("cluster: node %s heartbeat failed: %s", name, exc)
                continue
            self.heartbeats[name] = hb
            self.ready.add(name)
            for cid, c in hb["cameras"].items():
                self.camera_status[cid] = {**c, "node": name}
                # (the node it is assigned to, or the one still holding it while its new node's reader starts)
                if c.get("last_frame") and (self.assignment.get(cid) == name or cid in self.acked.get(name, ())):
                    self.last_frame[cid] = c["last_frame"]

    def _collect_answers(self) -> None:
        import ray

        for name, (ref, cams, _since) in list(self.pending.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                continue
            del self.pending[name]
            try:
                ray.get(ref)
                self.acked[name] = cams
            except Exception as exc:  # noqa: BLE001
                if actor_died(exc):
                    self._lose(name, "worker died")
                else:  # it did not take them: asked again next tick
                    log.error("cluster: node %s refused its cameras: %s", name, exc)

    def _lose(self, name: str, why: str) -> None:
        self.workers.pop(name, None)
        self.acked.pop(name, None)
        self.pending.pop(name, None)
        self.warm_sent.pop(name, None)
        self.heartbeats.pop(name, None)
        self.hb_refs.pop(name, None)
        self.ready.discard(name)
        if name not in self.lost:
            self.lost[name] = (time.time(), why)
            n = sum(1 for node in self.assignment.values() if node == name)
            log.warning("cluster: node %s lost (%s): its %d camera(s) move", name, why, n)

    def _send(self) -> None:
        """Ask each node whose set changed for its new set. A camera moving between two live nodes: make before
        break. Its new node opens its reader first (`warm`); its old node keeps it until that reader has frames (or
        `WARM_WAIT_S` passed); the new node takes it once the old one confirmed letting it go: never on two nodes."""
        want: dict[str, set[str]] = {n: set() for n in self.workers}
        for cid, node in self.assignment.items():
            if node in want:
                want[node].add(cid)
        now = time.time()
        for name, w in self.workers.items():
            if name in self.pending:
                continue
            held_elsewhere = set().union(*(c for n, c in self.acked.items() if n != name)) if self.acked else set()
            mine = self.acked.get(name, frozenset())
            cams = frozenset(c for c in want[name] if c not in held_elsewhere or c in mine)
            cams |= frozenset(c for c in mine if c not in want[name] and self._keep_until_warm(c, now))
            warm = frozenset(c for c in want[name] if c in held_elsewhere and c not in mine)
            if cams == self.acked.get(name) and warm == self.warm_sent.get(name, frozenset()):
                continue
            new = cams - mine
            handover = {cid: {"last_seen": iso(self.last_frame.get(cid)), "from": self._moved_from(cid),
                              "to": name} for cid in new}
            self.warm_sent[name] = warm
            self.pending[name] = (w.assign.remote(sorted(cams), handover, sorted(warm)), cams, now)

    def _keep_until_warm(self, cid: str, now: float) -> bool:
        """The camera's old node keeps it while its new (live) node's reader has no frame yet, for WARM_WAIT_S."""
        dest = self.assignment.get(cid)
        if dest is None or dest not in self.workers:
            self.warm_since.pop(cid, None)
            return False
        if (self.heartbeats.get(dest) or {}).get("warm", {}).get(cid):
            self.warm_since.pop(cid, None)
            return False
        since = self.warm_since.setdefault(cid, now)
        if now - since < WARM_WAIT_S:
            return True
        log.warning("cluster: camera %s: no frame on %s after %.0f s; moved without waiting", cid, dest, WARM_WAIT_S)
        self.warm_since.pop(cid, None)
        return False

    def _moved_from(self, cid: str) -> str | None:
        for m in reversed(self.moves):
            if m["camera"] == cid:
                return m["from"]
        return None

    def _cameras(self) -> dict[str, float]:
        """Enabled cameras of the inventory -> weight (camera units: detect_fps, at least 1); read every 5 s."""
        from vigil.api.db_inventory import CameraRow

        if time.monotonic() - self._cams_at >= 5.0 or not self._cams_at:
            with self.sessions() as s:
                rows = s.execute(select(CameraRow.id, CameraRow.detect_fps).where(CameraRow.enabled.is_(True))).all()
            self._cams = {cid: max(1.0, float(fps)) for cid, fps in rows}
            self._cams_at = time.monotonic()
        return self._cams

    def _node_media(self, node: str, rel: str) -> bytes | None:
        import ray

        w = self.workers.get(node)
        if w is None:
            raise LookupError(f"node {node} has no live worker")
        return ray.get(w.media.remote(rel), timeout=30)

    # -- for callers -------------------------------------------------------------------------
    def media(self, node: str, rel: str) -> bytes | None:
        """The head's copy of a node's snapshot or clip (the API asks when the node itself does not answer)."""
        return self.collector.media(node, rel) if self.collector is not None else None

    def status(self) -> dict:
        """The cluster as this maintainer sees it now (what `vigil cluster status` prints from the database)."""
        per_node: dict[str, int] = {}
        for node in self.assignment.values():
            per_node[node] = per_node.get(node, 0) + 1
        ticks = sorted(self.tick_ms)
        return {
            "nodes": {n: {"capacity": d.capacity, "alive": n in self.workers, "cameras": per_node.get(n, 0),
                          "confirmed": len(self.acked.get(n, ())), "pending": n in self.pending,
                          "lost": self.lost.get(n)} for n, d in self.nodes.items()},
            "cameras": len(self._cams), "placed": len(self.assignment),
            "confirmed": sum(len(c) for c in self.acked.values()),
            "holders": {n: sorted(c) for n, c in self.acked.items()},
            "moves": list(self.moves)[-50:],
            "first_rules": {cid: c.get("first_rules") for cid, c in self.camera_status.items()
                            if self.assignment.get(cid) == c["node"]},
            "ticks": self.ticks, "tick_ms_p50": ticks[len(ticks) // 2] if ticks else None,
            "tick_ms_max": ticks[-1] if ticks else None, "phase_max_ms": self.phase_max_ms,
            "phase_cpu_max_ms": self.phase_cpu_max_ms, "rss_mb": round(rss_mb(), 1), "pid": os.getpid(),
        }

    def stop(self, workers: bool = True) -> None:
        import ray

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.collector is not None:
            self.collector.stop()
        try:
            self._report()  # the record as it stands at the stop
        except Exception:  # noqa: BLE001
            log.warning("cluster maintainer: the last report failed", exc_info=True)
        if workers:
            for w in self.workers.values():
                try:
                    ray.get(w.stop.remote(), timeout=20)
                    ray.kill(w)
                except Exception:  # noqa: BLE001 - its node is gone already
                    pass
        self.engine.dispose()
