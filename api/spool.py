"""The event spool: event writes that could not reach the database wait here, on disk, in order, until it is back.

`EventSpool` is a folder (`storage.data_dir/spool`) of one JSON file per write, named by a growing sequence number
and the operation (`000000000042.updated.json`), with the evidence JPEG beside it (`000000000042.jpg`). Every file
is written to a temporary name, fsync'd, renamed and the folder fsync'd, so an entry on disk is whole and survives
a power cut; the order is the names' order, also after a restart.

Bounded by size (`storage.spool.max_mb`): past it the oldest `updated` entries go first (a later update or the
close carries the event's final state), then the oldest evidence pictures (the event itself stays), and only then
the oldest openings and closings. Each drop is logged and counted (`vigil_spool_dropped_total{what=...}`).

`SpoolMaintainer` is the long-lived loop that hands the spool back to the store (`EventStore.replay_spool`) once the
database answers again: probed after 0.5 s, doubling up to `retry_max_s`.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.loops import BackgroundLoop
from vigil.vision.events import EventRecord

if TYPE_CHECKING:
    from vigil.api.store import EventStore

log = logging.getLogger("vigil.spool")
OPS = ("started", "updated", "ended", "clip", "status")
MB = 1024 * 1024


@dataclass
class SpoolEntry:
    seq: int
    op: str
    path: Path
    jpeg_path: Path | None
    size: int

    def body(self) -> dict:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def jpeg(self) -> bytes | None:
        try:
            return self.jpeg_path.read_bytes() if self.jpeg_path is not None else None
        except FileNotFoundError:
            return None


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_body(ev: EventRecord) -> dict:
    return {"camera_id": ev.camera_id, "zone": ev.zone, "rule": ev.rule, "started_t": ev.started_t,
            "started_wall": ev.started_wall.isoformat(), "peak_confidence": ev.peak_confidence, "params": ev.params,
            "detail": ev.detail, "ended_t": ev.ended_t,
            "ended_wall": ev.ended_wall.isoformat() if ev.ended_wall else None, "id": ev.id,
            "stored_key": ev.stored_key}


def record_of(body: dict) -> EventRecord:
    return EventRecord(body["camera_id"], body["zone"], body["rule"], body["started_t"],
                       datetime.fromisoformat(body["started_wall"]), body["peak_confidence"], body["params"] or {},
                       body["detail"] or {}, body.get("ended_t"),
                       datetime.fromisoformat(body["ended_wall"]) if body.get("ended_wall") else None, body.get("id"),
                       body.get("stored_key"))


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.1f} KB"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class EventSpool:
    def __init__(self, folder: str | Path, max_bytes: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self.appended = self.replayed = 0
        self.dropped: dict[str, int] = {}
        self._entries: list[SpoolEntry] = self._scan()
        self._next = (self._entries[-1].seq + 1) if self._entries else 1
        if self._entries:
            log.warning("event spool: %d write(s) from an earlier run wait for the database (%s)", len(self._entries),
                        self.folder)

    def _scan(self) -> list[SpoolEntry]:
        entries, jpegs = [], {}
        for p in self.folder.iterdir():
            if p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)  # a write cut short: never renamed, so never part of the spool
            elif p.suffix == ".jpg" and p.stem.isdigit():
                jpegs[int(p.stem)] = p
        for p in self.folder.glob("*.json"):
            seq, _, op = p.name[:-5].partition(".")
            if seq.isdigit() and op in OPS:
                j = jpegs.pop(int(seq), None)
                entries.append(SpoolEntry(int(seq), op, p, j, p.stat().st_size + (j.stat().st_size if j else 0)))
        for orphan in jpegs.values():
            orphan.unlink(missing_ok=True)
        return sorted(entries, key=lambda e: e.seq)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self._entries)

    def entries(self) -> list[SpoolEntry]:
        with self._lock:
            return list(self._entries)

    def append(self, op: str, body: dict, jpeg: bytes | None = None) -> SpoolEntry:
        if op not in OPS:
            raise ValueError(f"unknown spool operation {op!r}")
        data = json.dumps(body, ensure_ascii=False, default=_json_default).encode()
        with self._lock:
            seq = self._next
            self._next += 1
            jpeg_path = None
            if jpeg:
                jpeg_path = self.folder / f"{seq:012d}.jpg"
                _fsync_write(jpeg_path, jpeg)
            path = self.folder / f"{seq:012d}.{op}.json"
            _fsync_write(path, data)
            _fsync_dir(self.folder)
            entry = SpoolEntry(seq, op, path, jpeg_path, len(data) + (len(jpeg) if jpeg else 0))
            self._entries.append(entry)
            self.appended += 1
            self._bound()
            return entry

    def _drop(self, entry: SpoolEntry, what: str) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + 1
        if what == "snapshot":
            entry.jpeg_path.unlink(missing_ok=True)
            entry.size = entry.path.stat().st_size
            entry.jpeg_path = None
            return
        self._entries.remove(entry)
        for p in (entry.path, entry.jpeg_path):
            if p is not None:
                p.unlink(missing_ok=True)

    def _bound(self) -> None:
        total = self.bytes
        while total > self.max_bytes and self._entries:
            victim = next((e for e in self._entries if e.op == "updated"), None)
            what = "updated"
            if victim is None:
                victim, what = next((e for e in self._entries if e.jpeg_path is not None), None), "snapshot"
            if victim is None:
                victim = self._entries[0]
                what = victim.op
            before = total
            self._drop(victim, what)
            total = self.bytes
            log.error("event spool over its bound (%s > %s): dropped the %s of spool entry %d (%s); "
                      "%d write(s) wait for the database", _size(before), _size(self.max_bytes),
                      "evidence picture" if what == "snapshot" else "write", victim.seq, what, len(self._entries))

    def remove(self, entry: SpoolEntry) -> None:
        """The entry is in the database now."""
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
            for p in (entry.path, entry.jpeg_path):
                if p is not None:
                    p.unlink(missing_ok=True)
            self.replayed += 1

    def quarantine(self, entry: SpoolEntry, reason: str) -> None:
        """An entry the database refuses for a reason other than being unreachable: moved to spool/failed/ so it
        does not block the rest (kept for a person to look at)."""
        bad = self.folder / "failed"
        bad.mkdir(exist_ok=True)
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
            for p in (entry.path, entry.jpeg_path):
                if p is not None and p.exists():
                    os.replace(p, bad / p.name)
            self.dropped["failed"] = self.dropped.get("failed", 0) + 1
        log.error("event spool: entry %d (%s) refused by the database, moved to %s: %s", entry.seq, entry.op, bad, reason)

    def stats(self) -> dict:
        return {"entries": len(self._entries), "bytes": self.bytes, "appended": self.appended,
                "replayed": self.replayed, "dropped": dict(self.dropped)}


class SpoolMaintainer(BackgroundLoop):
    """Replays the spool into the database whenever it holds writes and the database answers (`wake()`: a write
    was spooled)."""
    thread_name = "spool-maintainer"

    def __init__(self, store: "EventStore", retry_max_s: float = 5.0):
        super().__init__()
        self.store, self.retry_max_s = store, retry_max_s

    def _loop(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            spool = self.store.spool
            if spool is None or len(spool) == 0:
                delay = 0.5
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                done = self.store.replay_spool(stop=self._stop)
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("event spool: replay failed")
                done = False
            if done:
                delay = 0.5
                continue
            self._stop.wait(delay)
            delay = min(self.retry_max_s, delay * 2)
