"""`EventStore`: persists events (an `EventSink`) and their evidence under the media directory."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from vigil.api.db import EventRow
from vigil.vision.events import EventRecord

log = logging.getLogger("vigil.api")


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class EventStore:
    def __init__(self, sessions: sessionmaker, media_dir: Path, institution_of: dict[str, str]):
        self.sessions = sessions
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.institution_of = institution_of
        self._lock = threading.Lock()

    def close_stale_open_events(self) -> int:
        """At start-up, events left open by a previous run are closed (their state is unknown)."""
        now = datetime.now(timezone.utc)
        with self.sessions.begin() as s:
            rows = s.scalars(select(EventRow).where(EventRow.state == "open")).all()
            for r in rows:
                r.state, r.ended_at = "closed", now
                r.detail = dict(r.detail or {}, end_reason="service restarted")
            return len(rows)

    def _write_snapshot(self, event_id: int, jpeg: bytes) -> str:
        rel = Path("events") / f"{event_id // 1000:04d}" / f"{event_id}.jpg"
        path = self.media_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(jpeg)
        tmp.replace(path)
        return rel.as_posix()

    # -- EventSink ---------------------------------------------------------------------------
    def started(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        with self._lock, self.sessions.begin() as s:
            row = EventRow(
                camera_id=event.camera_id, institution_id=self.institution_of.get(event.camera_id, ""),
                zone=event.zone, rule=event.rule, state="open", review_status="pending",
                started_at=_utc(event.started_wall), stream_start_s=event.started_t,
                peak_confidence=event.peak_confidence, params=event.params, detail=event.detail,
            )
            s.add(row)
            s.flush()
            event.id = row.id
            if snapshot_jpeg:
                try:
                    row.snapshot_path = self._write_snapshot(row.id, snapshot_jpeg)
                except OSError as exc:  # a full disk must not lose the event itself
                    log.error("event %s: cannot write snapshot: %s", row.id, exc)

    def updated(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        if event.id is None:
            return
        with self._lock, self.sessions.begin() as s:
            row = s.get(EventRow, event.id)
            if row is None:
                return
            row.peak_confidence = event.peak_confidence
            row.detail = dict(event.detail)
            if snapshot_jpeg:
                try:
                    row.snapshot_path = self._write_snapshot(row.id, snapshot_jpeg)
                except OSError as exc:
                    log.error("event %s: cannot write snapshot: %s", row.id, exc)

    def ended(self, event: EventRecord) -> None:
        if event.id is None:
            return
        with self._lock, self.sessions.begin() as s:
            row = s.get(EventRow, event.id)
            if row is None:
                return
            row.state = "closed"
            row.ended_at = _utc(event.ended_wall) if event.ended_wall else datetime.now(timezone.utc)
            row.stream_end_s = event.ended_t
            row.peak_confidence = event.peak_confidence
            row.detail = dict(event.detail)

    def snapshot_file(self, row: EventRow) -> Path | None:
        if not row.snapshot_path:
            return None
        p = (self.media_dir / row.snapshot_path).resolve()
        return p if p.is_file() and self.media_dir.resolve() in p.parents else None
