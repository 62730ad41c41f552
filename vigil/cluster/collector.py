"""`EvidenceCollector`: copies each node's evidence to the head as soon as it exists, so that losing a node loses
none of the snapshots and clips it had recorded.

A node records its media under its own data dir and names them `@<node>/...` in the event rows. Every `every_s`
the collector (a thread of the ClusterMaintainer, on the head) reads the events of the last `window_s` whose
snapshot or ready clip is a node's, and copies each file it does not hold yet from its node into
`storage.data_dir/media/nodes/<node>/...`: where the API's control Runtime keeps the copies it fetches, so an API
process on the head finds them on disk, and one elsewhere asks the maintainer (`ClusterMaintainer.media`) when the
node is gone. An open event's snapshot is copied again once the event has ended (a better frame may replace it
until then); a clip once it is ready. What a node recorded in the last `every_s` before it died is what can be
lost. The head's copies are pruned by the control side's retention, like every media file on it.

No Ray here: `fetch(node, rel)` is given."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import or_, select

from vigil.api.db import EventRow
from vigil.api.media_files import write_atomically
from vigil.loops import BackgroundLoop

log = logging.getLogger("vigil.cluster")


class EvidenceCollector(BackgroundLoop):
    thread_name = "evidence-collector"

    def __init__(self, sessions, media_dir: Path, fetch: Callable[[str, str], bytes | None], *,
                 every_s: float = 5.0, window_s: float = 3600.0):
        super().__init__()
        self.sessions, self.media_dir, self.fetch = sessions, Path(media_dir), fetch
        self.every_s, self.window_s = every_s, window_s
        self.done: dict[str, float] = {}  # media path -> when its final copy was made (time.time())
        self.copied = self.failed = self.bytes = 0
        self.unreachable: set[str] = set()  # nodes whose last answer failed (logged once)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.collect()
            except Exception:  # noqa: BLE001 - a database blink: the next round tries again
                log.exception("evidence collector: round failed")

    def target(self, rel: str) -> Path:
        """Where the head keeps the copy of a node's media path `@<node>/<rest>`."""
        node, _, rest = rel[1:].partition("/")
        return self.media_dir / "nodes" / node / rest

    def collect(self) -> dict:
        """One round: copy what is new; returns counts (copied, failed, pending)."""
        now = time.time()
        since = datetime.now(timezone.utc) - timedelta(seconds=self.window_s)
        with self.sessions() as s:
            rows = s.execute(select(EventRow.snapshot_path, EventRow.clip_path, EventRow.clip_status, EventRow.state)
                             .where(EventRow.started_at >= since, or_(EventRow.snapshot_path.like("@%"),
                                                                      EventRow.clip_path.like("@%")))).all()
        wanted: list[tuple[str, bool]] = []  # (path, final)
        for snap, clip, clip_status, state in rows:
            if snap and snap.startswith("@"):
                wanted.append((snap, state != "open"))
            if clip and clip.startswith("@") and clip_status == "ready":
                wanted.append((clip, True))
        copied = failed = 0
        down: set[str] = set()  # nodes that did not answer this round: not asked again until the next
        for rel, final in wanted:
            node, _, rest = rel[1:].partition("/")
            p = self.target(rel)
            # a final file is copied once (again after a restart: the first copy may have been provisional)
            if rel in self.done or node in down or (p.is_file() and not final):
                continue
            try:
                data = self.fetch(node, rest)
            except Exception as exc:  # noqa: BLE001 - the node is gone or slow: its copies made so far stay
                if node not in self.unreachable:
                    log.warning("evidence collector: node %s did not send %s: %s", node, rel, type(exc).__name__)
                self.unreachable.add(node)
                down.add(node)
                failed += 1
                continue
            self.unreachable.discard(node)
            if not data:  # pruned on the node meanwhile
                failed += 1
                continue
            write_atomically(p, data)
            copied += 1
            self.bytes += len(data)
            if final:
                self.done[rel] = now
        horizon = now - self.window_s - 3600
        self.done = {k: t for k, t in self.done.items() if t >= horizon}
        self.copied += copied
        self.failed += failed
        return {"copied": copied, "failed": failed, "pending": sum(1 for r, _ in wanted if r not in self.done)}

    def media(self, node: str, rel: str) -> bytes | None:
        """The head's copy of a node's file (the API's fallback when the node is gone)."""
        root = (self.media_dir / "nodes" / node).resolve()
        p = (root / rel).resolve()
        return p.read_bytes() if root in p.parents and p.is_file() else None
