"""Event records and the sink they are handed to (database, replay printer, ...)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class EventRecord:
    """One event: open from `started_*` until `ended_*` is set. One open event per (camera, zone, rule)."""

    camera_id: str
    zone: str | None
    rule: str
    started_t: float  # stream clock seconds
    started_wall: datetime
    peak_confidence: float
    params: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)
    ended_t: float | None = None
    ended_wall: datetime | None = None
    id: int | None = None  # set by a persistent sink
    # the stored event's key when this record continues an event opened elsewhere (cluster mode: the camera's
    # previous node); None: the key follows from the fields (api/store.py event_key)
    stored_key: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.camera_id, self.zone, self.rule)


class EventSink(Protocol):
    def started(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None: ...

    def updated(self, event: EventRecord, snapshot_jpeg: bytes | None) -> None: ...

    def ended(self, event: EventRecord) -> None: ...


class FanoutSink:
    """Hands every change to several sinks in order; a sink without a method (a counter that records only
    crossings, an event sink that records none) is skipped for it."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def _each(self, name: str, *args) -> None:
        for s in self.sinks:
            method = getattr(s, name, None)
            if method is not None:
                method(*args)

    def started(self, event, snapshot_jpeg):
        self._each("started", event, snapshot_jpeg)

    def updated(self, event, snapshot_jpeg):
        self._each("updated", event, snapshot_jpeg)

    def ended(self, event):
        self._each("ended", event)

    def crossed(self, crossing):
        self._each("crossed", crossing)


@dataclass(frozen=True)
class Crossing:
    """One person going in or out through a gate zone (the gate rule's count; not an event)."""

    camera_id: str
    zone: str
    direction: str  # "in" | "out"
    t: float  # stream clock seconds
    wall: datetime  # local wall time
    night: bool  # inside the rule's night window
    track_id: int

