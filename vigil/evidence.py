"""`EvidenceSink`: after the store has saved a new event, ask the camera's decoder for its clip.

The decoder cuts the clip from its ring of encoded packets (`vigil.streams.clips`) and answers
through the reader's `on_clip` callback, which the store records (ready / failed). camera_offline
events get no clip (there is no video), nor do file sources (demo clips have no live stream)."""
from __future__ import annotations

import logging

from vigil.config import ClipsConfig
from vigil.streams.decoder import is_file_source
from vigil.vision.events import EventRecord

log = logging.getLogger("vigil.evidence")


class EvidenceSink:
    def __init__(self, store, processors: dict, clips: ClipsConfig):
        """`processors`: the service's live camera id -> CameraProcessor map (filled as cameras start)."""
        self.store, self.processors, self.clips = store, processors, clips

    def started(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        proc = self.processors.get(event.camera_id)
        reader = proc.reader if proc is not None else None
        if (not self.clips.enabled or event.id is None or reader is None or event.rule == "camera_offline"
                or is_file_source(reader.url)):
            return
        try:
            path = self.store.clip_path(event.camera_id, event.started_wall, event.id)
            self.store.clip_started(event.id, path)
            reader.request_clip(event.id, str(path), event.started_wall.timestamp(), self.clips.pre_s, self.clips.post_s)
        except Exception:  # noqa: BLE001 - evidence is best effort; the event itself is stored
            log.exception("camera %s: could not request the clip of event %s", event.camera_id, event.id)

    def updated(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None:
        pass

    def ended(self, event: EventRecord) -> None:
        pass
