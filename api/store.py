"""`EventStore`: persists events (an `EventSink`) and their evidence under the media directory.

Evidence lives under `media_dir` (api/media_files.py: `MediaFiles`, whose paths the store records). A full disk
never loses an event: the row is stored, the missing evidence is logged.

Every event change writes its notification to the outbox in the same transaction (vigil/outbox/messages.py).
While the database is unreachable, `started` / `updated` / `ended` / clip results go to the on-disk spool
(api/spool.py) instead, and later ones follow them there so the order holds; `replay_spool` writes them when the
database answers again. Each event has a stable key (`events.event_key`: camera, zone, rule, start) and each of its
notifications a stable delivery id, so a replayed write finds its row and notification instead of adding more.

A database that takes the connection but never answers (a link gone silent, a server hung on a lock) must not hold
the camera loops either: with a spool, every database call of the store runs on the store's own database thread
(`DbThread`) and its caller waits at most `write_wait_s`; past that the write goes to the spool, as do the writes
after it until the stalled call has come back."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from vigil.api.db import EventRow
from vigil.api.dbthread import DatabaseStalled, DbThread, unreachable
from vigil.api.db_base import utc
from vigil.api.media_files import MediaFiles
from vigil.api.spool import EventSpool, SpoolEntry, record_body, record_of
from vigil.outbox import messages
from vigil.vision.events import EventRecord

log = logging.getLogger("vigil.api")


def event_key(ev: EventRecord) -> str:
    """Stable key of an event: one open event per (camera, zone, rule), so these and its start name it (an event
    taken over from another node keeps the key it was stored with)."""
    if ev.stored_key:
        return ev.stored_key
    return messages.stable_id("event", ev.camera_id, ev.zone or "", ev.rule, utc(ev.started_wall).isoformat(),
                              repr(float(ev.started_t)))


def _field(result: Any, name: str, default: Any = None) -> Any:
    """A ClipResult field, from the dataclass or from its dict form (as it crosses processes)."""
    return result.get(name, default) if isinstance(result, Mapping) else getattr(result, name, default)


def _keep_clip_detail(row: EventRow, detail: dict) -> dict:
    """The rule's detail, keeping the keys the store itself added (clip_error)."""
    return {**detail, **{k: v for k, v in (row.detail or {}).items() if k.startswith("clip_")}}


class EventStore(MediaFiles):
    def __init__(self, sessions: sessionmaker, media_dir: Path, institution_of: dict[str, str], *,
                 spool: EventSpool | None = None, regions: Callable[[], Mapping[str, str]] | None = None):
        """`spool`: where writes wait while the database is unreachable (None: such a write raises, as before);
        `regions`: institution id -> region path, read when a notification is written."""
        super().__init__(media_dir)
        self.sessions = sessions
        self.institution_of = institution_of
        self.spool = spool
        self.regions = regions or dict
        self._lock = threading.Lock()
        self._live: dict[str, EventRecord] = {}  # spooled openings: their records get the id once replayed
        self._updates: dict[str, int] = {}  # event key -> updates so far (each update's delivery id)
        self._down_since: float | None = None
        # the longest a caller waits on one database call (None: no bound, and no thread). The service sets it from
        # storage.spool.write_wait_s when it gives the store its spool
        self.write_wait_s: float | None = None
        self._db = DbThread()
        self._stalled: Future | None = None  # the call that outlived its wait, until it comes back
        self.stalls = 0
        # cluster mode: may this process still write for the camera (fence(session, camera_id))? A node that lost a
        # camera (declared dead, yet its process still running for a moment, or cut off) must not write beside the
        # camera's new node: each write checks, in its own transaction, that this node still holds the camera
        self.fence: Callable[[Any, str], bool] | None = None
        self.fenced = 0  # writes dropped by the fence

    def close_stale_open_events(self) -> int:
        """At start-up, events left open by a previous run are closed (their state is unknown)."""
        now = datetime.now(timezone.utc)
        with self.sessions.begin() as s:
            rows = s.scalars(select(EventRow).where(EventRow.state == "open")).all()
            for r in rows:
                r.state, r.ended_at = "closed", now
                r.detail = dict(r.detail or {}, end_reason="service restarted")
                messages.announce_event(s, r, "event.ended", self._region(r.institution_id),
                                        messages.stable_id(r.event_key or f"row-{r.id}", "ended"))
            # clips that were recording when the service stopped will never finish
            for r in s.scalars(select(EventRow).where(EventRow.clip_status == "recording")).all():
                if r.clip_path:
                    self._remove_quietly(self._abs(r.clip_path).with_suffix(".part"))
                r.clip_status, r.clip_path = "failed", None
                r.detail = dict(r.detail or {}, clip_error="service restarted while recording")
            return len(rows)

    def open_events(self, camera_id: str) -> list[EventRecord]:
        """The camera's events still open in the database, as records a pipeline can continue (cluster mode: a camera
        taken over from a lost or emptied node goes on with them instead of opening them a second time)."""
        with self.sessions() as s:
            rows = s.scalars(select(EventRow).where(EventRow.camera_id == camera_id, EventRow.state == "open")
                             .order_by(EventRow.id)).all()
            return [EventRecord(r.camera_id, r.zone, r.rule, float(r.stream_start_s or 0.0), utc(r.started_at),
                                float(r.peak_confidence), dict(r.params or {}), dict(r.detail or {}), id=r.id,
                                stored_key=r.event_key) for r in rows]

    # -- EventSink ---------------------------------------------------------------------------
    def started(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        key = event_key(event)
        with self._lock:
            if not self._write(lambda: setattr(event, "id", self._open(event, snapshot_jpeg, key))):
                self._live[key] = event
                self._spool("started", {"key": key, "event": record_body(event)}, snapshot_jpeg)

    def updated(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        key = event_key(event)
        with self._lock:
            n = self._updates[key] = self._updates.get(key, 0) + 1
            if not self._write(lambda: self._update(event, snapshot_jpeg, key, n)):
                self._spool("updated", {"key": key, "n": n, "event": record_body(event)}, snapshot_jpeg)

    def ended(self, event: EventRecord) -> None:
        key = event_key(event)
        with self._lock:
            self._updates.pop(key, None)
            if not self._write(lambda: self._end(event, key)):
                self._spool("ended", {"key": key, "event": record_body(event)}, None)

    def camera_status(self, camera_id: str, status: str, reason: str | None = None) -> None:
        """Announce a camera's status (online / offline) with no event behind it (its first frame of this run)."""
        with self._lock:
            body = {"camera_id": camera_id, "status": status, "reason": reason}
            if not self._write(lambda: self._status(**body)):
                self._spool("status", body, None)

    # -- writing, or spooling while the database is away -----------------------------------------
    def _bounded(self, call: Callable[[], Any]) -> Any:
        """`call()` on the database thread, waited for at most `write_wait_s` (no bound: run here). Raises
        DatabaseStalled when it does not come back in time, or while an earlier call that did not still hangs."""
        if self.write_wait_s is None:
            return call()
        if self._stalled is not None:
            if not self._stalled.done():
                raise DatabaseStalled("an earlier database call has not come back yet")
            self._stalled = None
        fut = self._db.submit(call)
        try:
            return fut.result(self.write_wait_s)
        except FutureTimeout:
            self._stalled = fut
            self.stalls += 1
            fut.add_done_callback(self._stall_over)
            raise DatabaseStalled(f"the database did not answer within {self.write_wait_s:g} s") from None

    @staticmethod
    def _stall_over(fut: Future) -> None:
        exc = fut.exception()
        log.warning("a database call that outlived its wait came back: %s",
                    "written" if exc is None else f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

    def _write(self, apply: Callable[[], Any]) -> bool:
        """Run `apply` (one transaction) unless writes are spooled; False: the caller spools it instead.
        Called with the lock held. Without a spool, errors propagate as before."""
        if self.spool is None:
            apply()
            return True
        if len(self.spool):
            return False  # earlier writes wait there: this one goes behind them
        try:
            self._bounded(apply)
            return True
        except (SQLAlchemyError, DatabaseStalled) as exc:
            if isinstance(exc, SQLAlchemyError) and not unreachable(exc):
                raise
            self._down_since = time.monotonic()
            log.warning("database unreachable: event writes wait in the spool %s until it answers (%s)",
                        self.spool.folder, str(exc).splitlines()[0][:200])
            return False

    def _spool(self, op: str, body: dict, jpeg: bytes | None) -> None:
        try:
            self.spool.append(op, body, jpeg)
        except OSError as exc:  # a full or broken disk as well as no database: the write is lost, and says so
            log.error("event spool: cannot keep a %s write (%s): %s", op, body.get("key"), exc)

    def _region(self, institution_id: str) -> str | None:
        return self.regions().get(institution_id)

    def _row(self, s, event: EventRecord, key: str) -> EventRow | None:
        row = s.get(EventRow, event.id) if event.id is not None else None
        return row if row is not None else s.scalar(select(EventRow).where(EventRow.event_key == key))

    def _fenced(self, s, camera_id: str, op: str) -> bool:
        if self.fence is None or self.fence(s, camera_id):
            return False
        self.fenced += 1
        log.warning("camera %s is held by another node now: this node's %s write is dropped", camera_id, op)
        return True

    def _open(self, event: EventRecord, snapshot_jpeg: bytes | None, key: str) -> int | None:
        with self.sessions.begin() as s:
            if self._fenced(s, event.camera_id, "event opening"):
                return None
            row = s.scalar(select(EventRow).where(EventRow.event_key == key))
            if row is not None:  # a replayed opening that did reach the database before
                return row.id
            row = EventRow(
                camera_id=event.camera_id, institution_id=self.institution_of.get(event.camera_id, ""),
                zone=event.zone, rule=event.rule, state="open", review_status="pending",
                started_at=utc(event.started_wall), stream_start_s=event.started_t,
                peak_confidence=event.peak_confidence, params=event.params, detail=event.detail, event_key=key,
            )
            s.add(row)
            s.flush()
            if snapshot_jpeg:
                try:
                    row.snapshot_path = self._write_snapshot(row.id, snapshot_jpeg)
                except OSError as exc:  # a full disk must not lose the event itself
                    log.error("event %s: cannot write snapshot: %s", row.id, exc)
            messages.announce_event(s, row, "event.opened", self._region(row.institution_id),
                                    messages.stable_id(key, "opened"))
            return row.id

    def _update(self, event: EventRecord, snapshot_jpeg: bytes | None, key: str, n: int) -> None:
        with self.sessions.begin() as s:
            if self._fenced(s, event.camera_id, "event update"):
                return
            row = self._row(s, event, key)
            if row is None:
                return
            row.peak_confidence = event.peak_confidence
            row.detail = _keep_clip_detail(row, event.detail)
            if snapshot_jpeg:
                try:
                    row.snapshot_path = self._write_snapshot(row.id, snapshot_jpeg)
                except OSError as exc:
                    log.error("event %s: cannot write snapshot: %s", row.id, exc)
            messages.announce_event(s, row, "event.updated", self._region(row.institution_id),
                                    messages.stable_id(key, "updated", n))

    def _end(self, event: EventRecord, key: str) -> None:
        with self.sessions.begin() as s:
            if self._fenced(s, event.camera_id, "event end"):
                return
            row = self._row(s, event, key)
            if row is None:
                return
            row.state = "closed"
            row.ended_at = utc(event.ended_wall) if event.ended_wall else datetime.now(timezone.utc)
            row.stream_end_s = event.ended_t
            row.peak_confidence = event.peak_confidence
            row.detail = _keep_clip_detail(row, event.detail)
            messages.announce_event(s, row, "event.ended", self._region(row.institution_id),
                                    messages.stable_id(key, "ended"))

    def _status(self, camera_id: str, status: str, reason: str | None) -> None:
        inst = self.institution_of.get(camera_id)
        with self.sessions.begin() as s:
            messages.announce_camera(s, camera_id, inst, self._region(inst) if inst else None, status, reason=reason)

    # -- replay ----------------------------------------------------------------------------------
    def probe(self) -> bool:
        def ping() -> None:
            with self.sessions() as s:
                s.execute(text("SELECT 1"))
        try:
            self._bounded(ping)
            return True
        except (SQLAlchemyError, DatabaseStalled):
            return False

    def replay_spool(self, stop: threading.Event | None = None) -> bool:
        """Write the spooled writes in order (one transaction each), until the spool is empty (True) or the
        database goes away again (False). An entry the database refuses for another reason is set aside."""
        if self.spool is None or not len(self.spool):
            return True
        if not self.probe():
            return False
        t0, done = time.monotonic(), 0
        while entries := self.spool.entries():
            for entry in entries:
                if stop is not None and stop.is_set():
                    return False
                with self._lock:
                    try:
                        self._bounded(lambda: self._replay(entry))
                    except DatabaseStalled:
                        log.warning("event spool: the database stopped answering after %d replayed write(s)", done)
                        return False
                    except SQLAlchemyError as exc:
                        if unreachable(exc):
                            log.warning("event spool: database gone again after %d replayed write(s)", done)
                            return False
                        self.spool.quarantine(entry, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                        continue
                    except (ValueError, KeyError, TypeError) as exc:
                        self.spool.quarantine(entry, f"unreadable entry: {type(exc).__name__}: {exc}")
                        continue
                    self.spool.remove(entry)
                    done += 1
        down = f" after {time.monotonic() - self._down_since:.1f} s" if self._down_since is not None else ""
        log.info("database back%s: %d spooled write(s) replayed in %.2f s", down, done, time.monotonic() - t0)
        self._down_since = None
        return True

    def _replay(self, entry: SpoolEntry) -> None:
        body = entry.body()
        if entry.op == "status":
            self._status(body["camera_id"], body["status"], body.get("reason"))
            return
        if entry.op == "clip":
            self._clip(body["result"])
            return
        key, ev = body["key"], record_of(body["event"])
        live = self._live.get(key)
        if entry.op == "started":
            rid = self._open(ev, entry.jpeg(), key)
            if live is not None:
                live.id = rid  # the pipeline's record: later writes find the row by id
        elif entry.op == "updated":
            self._update(ev, entry.jpeg(), key, body["n"])
        elif entry.op == "ended":
            self._end(ev, key)
            self._live.pop(key, None)

    def clip_path_for(self, event_id: int) -> Path:
        """`clip_path` of a stored event (KeyError when there is no such event)."""
        with self.sessions() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise KeyError(event_id)
            return self.clip_path(row.camera_id, row.started_at, event_id)

    def clip_started(self, event_id: int, path: str | Path) -> None:
        """The camera began recording the clip into `path` (under the media dir): status 'recording'. Best effort:
        while the database does not answer this is only logged (the clip's result, spooled if need be, follows)."""
        rel = self._rel(path)

        def mark() -> None:
            with self.sessions.begin() as s:
                row = s.get(EventRow, event_id)
                if row is not None:
                    row.clip_path, row.clip_status = rel, "recording"
        with self._lock:
            if self.spool is not None and len(self.spool):
                return  # the database is away: the clip's result goes behind the spooled writes
            try:
                self._bounded(mark)
            except (SQLAlchemyError, DatabaseStalled) as exc:
                if isinstance(exc, SQLAlchemyError) and not unreachable(exc):
                    raise
                log.warning("event %s: clip status 'recording' not written: %s", event_id,
                            str(exc).splitlines()[0][:200])

    def clip_finished(self, result: Any) -> None:
        """Record a `ClipResult` (or its dict form): 'ready' with its path, or 'failed' (no path; the
        error is kept in detail.clip_error)."""
        payload = {k: _field(result, k) for k in ("event_id", "status", "error", "path")}
        with self._lock:
            if not self._write(lambda: self._clip(payload)):
                self._spool("clip", {"result": payload}, None)

    def _clip(self, result: Mapping) -> None:
        event_id, status = int(result["event_id"]), result["status"]
        error = result.get("error")
        rel = None
        if status == "ready":
            try:
                rel = self._rel(result["path"])
            except (ValueError, TypeError):
                status, error = "failed", f"clip written outside the media dir: {result['path']}"
        with self.sessions.begin() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                log.warning("clip for unknown event %s", event_id)
                return
            if status == "ready":
                row.clip_path, row.clip_status = rel, "ready"
                row.detail = {k: v for k, v in (row.detail or {}).items() if k != "clip_error"}
            else:
                row.clip_path, row.clip_status = None, "failed"
                row.detail = dict(row.detail or {}, clip_error=str(error or "unknown error"))
                log.error("event %s: clip failed: %s", event_id, error)

    def media_deleted(self, rels: list[str]) -> None:
        """Media retention deleted these files (paths relative to the media dir): their clips become
        'pruned' (no path), their snapshots go from the rows. Clips still recording are left alone."""
        with self._lock, self.sessions.begin() as s:
            for i in range(0, len(rels), 500):
                chunk = [self.db_prefix + r for r in rels[i:i + 500]]
                s.execute(update(EventRow).where(EventRow.clip_path.in_(chunk), EventRow.clip_status != "recording")
                          .values(clip_path=None, clip_status="pruned"))
                s.execute(update(EventRow).where(EventRow.snapshot_path.in_(chunk)).values(snapshot_path=None))
