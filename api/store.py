"""`EventStore`: persists events (an `EventSink`) and their evidence under the media directory.

Evidence lives under `media_dir`: snapshots in `events/NNNN/<id>.jpg`, clips in
`clips/<camera>/<YYYY-MM-DD>/<id>.mp4`; the database holds paths relative to `media_dir`. A full disk
never loses an event: the row is stored, the missing evidence is logged."""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from vigil.api.db import EventRow
from vigil.vision.events import EventRecord

log = logging.getLogger("vigil.api")


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _field(result: Any, name: str, default: Any = None) -> Any:
    """A ClipResult field, from the dataclass or from its dict form (as it crosses processes)."""
    return result.get(name, default) if isinstance(result, Mapping) else getattr(result, name, default)


def _keep_clip_detail(row: EventRow, detail: dict) -> dict:
    """The rule's detail, keeping the keys the store itself added (clip_error)."""
    return {**detail, **{k: v for k, v in (row.detail or {}).items() if k.startswith("clip_")}}


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
            # clips that were recording when the service stopped will never finish
            for r in s.scalars(select(EventRow).where(EventRow.clip_status == "recording")).all():
                if r.clip_path:
                    self._remove_quietly(self._abs(r.clip_path).with_suffix(".part"))
                r.clip_status, r.clip_path = "failed", None
                r.detail = dict(r.detail or {}, clip_error="service restarted while recording")
            return len(rows)

    def _abs(self, rel: str) -> Path:
        return self.media_dir / rel

    def _rel(self, path: str | Path) -> str:
        """`path` relative to the media dir (ValueError when it lies outside)."""
        return Path(path).resolve().relative_to(self.media_dir.resolve()).as_posix()

    @staticmethod
    def _remove_quietly(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("cannot remove %s: %s", path, exc)

    def _write_snapshot(self, event_id: int, jpeg: bytes) -> str:
        """Write atomically (temp file + rename); on OSError (ENOSPC) the temp file is removed and the
        error raised for the caller to log."""
        rel = Path("events") / f"{event_id // 1000:04d}" / f"{event_id}.jpg"
        path = self.media_dir / rel
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(jpeg)
            tmp.replace(path)
        except OSError:
            self._remove_quietly(tmp)
            raise
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
            row.detail = _keep_clip_detail(row, event.detail)
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
            row.detail = _keep_clip_detail(row, event.detail)

    def snapshot_file(self, row: EventRow) -> Path | None:
        if not row.snapshot_path:
            return None
        p = (self.media_dir / row.snapshot_path).resolve()
        return p if p.is_file() and self.media_dir.resolve() in p.parents else None

    # -- evidence clips ------------------------------------------------------------------------
    def clip_path_for(self, event_id: int) -> Path:
        """Where the clip of `event_id` goes: media_dir/clips/<camera>/<YYYY-MM-DD of start, UTC>/<id>.mp4
        (KeyError when there is no such event)."""
        with self.sessions() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise KeyError(event_id)
            day = _utc(row.started_at).strftime("%Y-%m-%d")
            return self.media_dir / "clips" / row.camera_id / day / f"{event_id}.mp4"

    def clip_started(self, event_id: int, path: str | Path) -> None:
        """The camera began recording the clip into `path` (under the media dir): status 'recording'."""
        rel = self._rel(path)
        with self._lock, self.sessions.begin() as s:
            row = s.get(EventRow, event_id)
            if row is not None:
                row.clip_path, row.clip_status = rel, "recording"

    def clip_finished(self, result: Any) -> None:
        """Record a `ClipResult` (or its dict form): 'ready' with its path, or 'failed' (no path; the
        error is kept in detail.clip_error)."""
        event_id, status = int(_field(result, "event_id")), _field(result, "status")
        error = _field(result, "error")
        rel = None
        if status == "ready":
            try:
                rel = self._rel(_field(result, "path"))
            except ValueError:
                status, error = "failed", f"clip written outside the media dir: {_field(result, 'path')}"
        with self._lock, self.sessions.begin() as s:
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

    def clip_file(self, row: EventRow) -> Path | None:
        """The clip file of a row when it is ready and exists inside the media dir."""
        if row.clip_status != "ready" or not row.clip_path:
            return None
        p = (self.media_dir / row.clip_path).resolve()
        return p if p.is_file() and self.media_dir.resolve() in p.parents else None

    def media_deleted(self, rels: list[str]) -> None:
        """Media retention deleted these files (paths relative to the media dir): their clips become
        'pruned' (no path), their snapshots go from the rows. Clips still recording are left alone."""
        with self._lock, self.sessions.begin() as s:
            for i in range(0, len(rels), 500):
                chunk = rels[i:i + 500]
                s.execute(update(EventRow).where(EventRow.clip_path.in_(chunk), EventRow.clip_status != "recording")
                          .values(clip_path=None, clip_status="pruned"))
                s.execute(update(EventRow).where(EventRow.snapshot_path.in_(chunk)).values(snapshot_path=None))
