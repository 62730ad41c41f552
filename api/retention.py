"""`MediaMaintainer`: keeps the media folder (evidence snapshots and clips) within its limits.

A long-lived thread; every `check_interval_s` it runs `run_once()`:

1. age: deletes media files older than `max_age_days` (by modification time);
2. space: then, while the media disk has less than `min_free_mb` free or the media take more than
   `max_media_mb`, deletes the oldest remaining files first;
3. updates the rows whose evidence went: `clip_status='pruned'`, `clip_path=NULL` for clips,
   `snapshot_path=NULL` for snapshots.

Files of clips still recording (their `.part` and final name) are never deleted, nor are temp files
(`.part`, `.tmp`) younger than `max_age_days`. Every OSError (a file gone, a permission, a full or
read-only disk) is logged and counted, and the loop goes on; a failed run is retried at the next
interval. Cost: one directory walk and one `stat` per media file per run, one `statvfs` per deletion
while short of free space, and two UPDATEs per 500 deleted files.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from vigil.api.db import EventRow
from vigil.config import RetentionConfig
from vigil.loops import BackgroundLoop

if TYPE_CHECKING:
    from vigil.api.store import EventStore

log = logging.getLogger("vigil.retention")

MB = 1024 * 1024
TEMP_SUFFIXES = (".part", ".tmp")  # files being written (clips, snapshots)


@dataclass
class MediaFile:
    path: Path
    rel: str  # relative to the media dir, '/'-separated (as stored in the database)
    size: int
    mtime: float


class MediaMaintainer(BackgroundLoop):
    """Deletes old media by age, free disk space and total size, and keeps the event rows in step.

    `start()` runs `run_once()` at once and then every `cfg.check_interval_s` in a daemon thread until
    `stop()`. Counters for health/metrics: `files_deleted`, `bytes_freed`, `runs`, `last_run_at`,
    `last_error` (None after a clean run); `stats()` returns them as a dict."""

    thread_name = "media-maintainer"

    def __init__(self, store: "EventStore", cfg: RetentionConfig):
        super().__init__()
        self.store, self.cfg = store, cfg
        self.media_dir = Path(store.media_dir)
        self.files_deleted = 0
        self.bytes_freed = 0
        self.runs = 0
        self.last_run_at: datetime | None = None
        self.last_error: str | None = None
        self._run_lock = threading.Lock()  # run_once from a test or an admin call never overlaps the thread

    # -- thread --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again next time
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("media retention run failed")
            if self._stop.wait(self.cfg.check_interval_s):
                break

    def stats(self) -> dict:
        return {"files_deleted": self.files_deleted, "bytes_freed": self.bytes_freed, "runs": self.runs,
                "last_run_at": self.last_run_at, "last_error": self.last_error}

    # -- one pass ------------------------------------------------------------------------------
    def run_once(self) -> dict:
        """One retention pass; returns what it did: deleted_by_age, deleted_for_space, bytes, errors,
        free_mb and media_mb afterwards."""
        with self._run_lock:
            errors: list[str] = []
            protected = self._protected_stems()
            files = self._scan(errors)
            cutoff = time.time() - self.cfg.max_age_days * 86400
            deleted: list[MediaFile] = []
            keep: list[MediaFile] = []
            for f in files:
                if self._stem(f.rel) in protected:
                    keep.append(f)
                elif f.mtime < cutoff:
                    if self._delete(f, errors):
                        deleted.append(f)
                    else:
                        keep.append(f)
                else:
                    keep.append(f)
            by_age = len(deleted)
            deleted += self._prune_for_space(keep, protected, errors)
            self._update_rows(deleted)
            self.runs += 1
            self.last_run_at = datetime.now(timezone.utc)
            self.last_error = errors[-1] if errors else None
            media = sum(f.size for f in keep) - sum(f.size for f in deleted[by_age:])
            report = {"deleted_by_age": by_age, "deleted_for_space": len(deleted) - by_age,
                      "bytes": sum(f.size for f in deleted), "errors": len(errors),
                      "free_mb": round(self._free_bytes() / MB, 1), "media_mb": round(media / MB, 3)}
            if deleted or errors:
                log.info("media retention: %s", report)
            return report

    def _protected_stems(self) -> set[str]:
        """Paths (without suffix) never touched: clips still being recorded, and the evidence of hazards not yet
        closed (their photos, the re-check picture, the snapshots and clips of their sightings) and of complaints
        not yet triaged, whatever their age (issue #16)."""
        from vigil.api.db_ledger import ComplaintRow, HazardEventRow, HazardPhotoRow, HazardRow

        with self.store.sessions() as s:
            rels = list(s.scalars(select(EventRow.clip_path).where(EventRow.clip_status == "recording")).all())
            live = select(HazardRow.id).where(HazardRow.state != "closed")
            rels += s.scalars(select(HazardPhotoRow.path).where(HazardPhotoRow.hazard_id.in_(live))).all()
            waiting = select(ComplaintRow.id).where(ComplaintRow.status == "new")
            rels += s.scalars(select(HazardPhotoRow.path).where(HazardPhotoRow.complaint_id.in_(waiting))).all()
            seen = select(HazardEventRow.event_id).where(HazardEventRow.hazard_id.in_(live))
            for snap, clip in s.execute(select(EventRow.snapshot_path, EventRow.clip_path).where(EventRow.id.in_(seen))):
                rels += [snap, clip]
        return {self._stem(self.store.local_rel(r)) for r in rels if r}

    @staticmethod
    def _stem(rel: str) -> str:
        return rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel

    def _scan(self, errors: list[str]) -> list[MediaFile]:
        out: list[MediaFile] = []

        def on_error(exc: OSError) -> None:
            errors.append(f"cannot list {exc.filename}: {exc.strerror}")
            log.error("media retention: %s", errors[-1])

        for root, _dirs, names in os.walk(self.media_dir, onerror=on_error):
            for name in names:
                path = Path(root) / name
                try:
                    st = path.stat()
                except OSError:  # deleted meanwhile
                    continue
                out.append(MediaFile(path, path.relative_to(self.media_dir).as_posix(), st.st_size, st.st_mtime))
        return out

    def _delete(self, f: MediaFile, errors: list[str]) -> bool:
        try:
            f.path.unlink()
        except FileNotFoundError:
            return True  # gone already: the row must still be updated
        except OSError as exc:
            errors.append(f"cannot delete {f.rel}: {exc.strerror or exc}")
            log.error("media retention: %s", errors[-1])
            return False
        self.files_deleted += 1
        self.bytes_freed += f.size
        self._remove_empty_dirs(f.path.parent)
        return True

    def _remove_empty_dirs(self, folder: Path) -> None:
        root = self.media_dir.resolve()
        while folder.resolve() != root and root in folder.resolve().parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or busy): stop climbing
                return
            folder = folder.parent

    def _free_bytes(self) -> int:
        return shutil.disk_usage(self.media_dir).free

    def _prune_for_space(self, files: list[MediaFile], protected: set[str], errors: list[str]) -> list[MediaFile]:
        """Delete the oldest files while free space or total media size is out of bounds."""
        min_free = self.cfg.min_free_mb * MB
        max_media = self.cfg.max_media_mb * MB if self.cfg.max_media_mb is not None else None
        total = sum(f.size for f in files)
        candidates = sorted((f for f in files if self._stem(f.rel) not in protected
                             and not f.rel.endswith(TEMP_SUFFIXES)), key=lambda f: f.mtime, reverse=True)
        deleted: list[MediaFile] = []
        free = self._free_bytes()
        while free < min_free or (max_media is not None and total > max_media):
            if not candidates:
                log.warning("media retention: nothing left to delete, free %.0f MB (want %.0f), media %.1f MB",
                            free / MB, self.cfg.min_free_mb, total / MB)
                break
            f = candidates.pop()  # oldest
            if self._delete(f, errors):
                deleted.append(f)
                total -= f.size
                free = self._free_bytes()
        return deleted

    def _update_rows(self, deleted: list[MediaFile]) -> None:
        if deleted:
            self.store.media_deleted([f.rel for f in deleted])
