"""Where an event's evidence lives: `MediaFiles`, the media directory side of the event store (api/store.py).

Snapshots in `events/NNNN/<id>.jpg`, clips in `clips/<camera>/<YYYY-MM-DD>/<id>.mp4`, under `media_dir`; the database
holds paths relative to it. In cluster mode a node records its paths as "@<node>/<path>" (`db_prefix`) and the
control side, which serves the API, fetches such a file from its node (`fetch(node, path) -> bytes`) and keeps a
copy under `nodes/<node>/`."""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from vigil.api.db import EventRow
from vigil.api.db_base import utc

log = logging.getLogger("vigil.api")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file of this thread (readers never see half a file); OSError
    (ENOSPC) raised after removing the temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def media_dir_of(data_dir: str | Path) -> Path:
    """Where a service's evidence lives under its `storage.data_dir` (a cluster head's copies of nodes' too)."""
    return Path(data_dir).resolve() / "media"


class MediaFiles:
    """The evidence files of one media directory, and the recorded paths that name them."""

    def __init__(self, media_dir: Path):
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.db_prefix = ""
        self.fetch: Callable[[str, str], bytes | None] | None = None

    def local_rel(self, rel: str) -> str:
        """A recorded media path as a path under this store's media dir: its own files without their node prefix,
        another node's files where their fetched copies go (nodes/<node>/...)."""
        if not rel.startswith("@"):
            return rel
        if self.db_prefix and rel.startswith(self.db_prefix):
            return rel[len(self.db_prefix):]
        node, _, rest = rel[1:].partition("/")
        return f"nodes/{node}/{rest}"

    def _abs(self, rel: str) -> Path:
        return self.media_dir / self.local_rel(rel)

    def _rel(self, path: str | Path) -> str:
        """`path` relative to the media dir, as recorded (ValueError when it lies outside)."""
        return self.db_prefix + Path(path).resolve().relative_to(self.media_dir.resolve()).as_posix()

    @staticmethod
    def _remove_quietly(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("cannot remove %s: %s", path, exc)

    def _write_snapshot(self, event_id: int, jpeg: bytes) -> str:
        """Write atomically (`write_atomically`); on OSError (ENOSPC) the error is raised for the caller to log."""
        rel = Path("events") / f"{event_id // 1000:04d}" / f"{event_id}.jpg"
        write_atomically(self.media_dir / rel, jpeg)
        return self.db_prefix + rel.as_posix()

    def snapshot_file(self, row: EventRow) -> Path | None:
        # an open event's snapshot may still be replaced by a better frame on its node: asked again each time
        return self.media_file(row.snapshot_path, final=row.state != "open") if row.snapshot_path else None

    def media_file(self, rel: str, final: bool = True) -> Path | None:
        """The file of a recorded media path, inside the media dir; one another node recorded is fetched from it
        first (cluster mode; again while not `final`, the copy kept serving when the node does not answer), None
        when it cannot be had."""
        root = self.media_dir.resolve()
        p = self._abs(rel).resolve()
        if root not in p.parents:
            return None
        if (not final or not p.is_file()) and rel.startswith("@") and self.fetch is not None:
            node, _, rest = rel[1:].partition("/")
            try:
                data = self.fetch(node, rest)
            except Exception as exc:  # noqa: BLE001 - the node is gone or slow: no evidence now, not a 500
                log.warning("media %s: node %s did not send it: %s", rel, node, exc)
                data = None
            if data:
                try:
                    write_atomically(p, data)
                except OSError as exc:
                    log.error("media %s: cannot keep the copy fetched from node %s: %s", rel, node, exc)
        return p if p.is_file() else None

    def clip_path(self, camera_id: str, started_at: datetime, event_id: int) -> Path:
        """Where the clip of an event goes: media_dir/clips/<camera>/<YYYY-MM-DD of its start, UTC>/<id>.mp4."""
        return self.media_dir / "clips" / camera_id / utc(started_at).strftime("%Y-%m-%d") / f"{event_id}.mp4"

    def clip_file(self, row: EventRow) -> Path | None:
        """The clip file of a row when it is ready and exists inside the media dir."""
        if row.clip_status != "ready" or not row.clip_path:
            return None
        return self.media_file(row.clip_path)
