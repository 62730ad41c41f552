"""What a notification says, and how it enters the outbox (no web framework here).

`add` puts an outbox row into the caller's session, so it commits or rolls back with the change it announces.
Delivery ids are stable: the event notifications derive theirs from the event's key (uuid5), so a write replayed
after a database outage, or retried after an ambiguous commit, finds its notification instead of adding another.

Payloads hold no secret: they are built field by field from the event (no stream URL, no token), and any string
that still looks like a URL with a password is redacted before it is stored.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.api.db import EventRow, as_utc, utcnow
from vigil.api.db_outbox import OutboxRow
from vigil.config import redact_url
from vigil.outbox.config import KINDS

NAMESPACE = uuid.UUID("6f0d3c1e-3a51-4d1c-9a0e-5c1f2b7d8e90")  # vigil's uuid5 namespace for stable ids
_URL_WITH_LOGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@]+@[^\s]+")
PENDING_FLAG = "vigil_outbox_pending"  # Session.info key: this transaction added notifications


def stable_id(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def scrub(value: Any) -> Any:
    """`value` with every URL that carries a login redacted (strings inside dicts and lists too)."""
    if isinstance(value, str):
        return _URL_WITH_LOGIN.sub(lambda m: redact_url(m.group(0)), value) if "@" in value else value
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt is not None else None


def add(s: Session, kind: str, data: dict, *, delivery_id: str | None = None, institution_id: str | None = None,
        region: str | None = None, camera_id: str | None = None, event_id: int | None = None) -> OutboxRow | None:
    """Add one notification to the caller's transaction; None when `delivery_id` is in the outbox already."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if delivery_id is not None:
        if s.scalar(select(OutboxRow.id).where(OutboxRow.delivery_id == delivery_id)) is not None:
            return None
    row = OutboxRow(delivery_id=delivery_id or str(uuid.uuid4()), kind=kind, institution_id=institution_id,
                    region=region, camera_id=camera_id, event_id=event_id, payload=scrub(data), created_at=utcnow())
    s.add(row)
    s.info[PENDING_FLAG] = True
    return row


def event_data(row: EventRow) -> dict:
    """The event as notifications show it: what happened where and when, and where the API has more."""
    return {
        "id": row.id, "key": row.event_key, "camera_id": row.camera_id, "institution_id": row.institution_id,
        "zone": row.zone, "rule": row.rule, "state": row.state, "review_status": row.review_status,
        "started_at": _iso(row.started_at), "ended_at": _iso(row.ended_at),
        "peak_confidence": row.peak_confidence, "end_reason": (row.detail or {}).get("end_reason"),
        "url": f"/api/events/{row.id}",
        "snapshot_url": f"/api/events/{row.id}/snapshot.jpg" if row.snapshot_path else None,
    }


def announce_event(s: Session, row: EventRow, kind: str, region: str | None, delivery_id: str) -> OutboxRow | None:
    """event.opened / event.updated / event.ended (and camera.status for camera_offline events)."""
    out = add(s, kind, event_data(row), delivery_id=delivery_id, institution_id=row.institution_id, region=region,
              camera_id=row.camera_id, event_id=row.id)
    if row.rule == "camera_offline" and kind in ("event.opened", "event.ended"):
        reason = (row.detail or {}).get("end_reason")
        status = "offline" if kind == "event.opened" else "unknown" if reason == "service restarted" else "online"
        announce_camera(s, row.camera_id, row.institution_id, region, status,
                        delivery_id=stable_id(delivery_id, "camera", status),
                        reason="no frames" if status == "offline" else reason,
                        event_id=row.id)
    return out


def announce_camera(s: Session, camera_id: str, institution_id: str | None, region: str | None, status: str, *,
                    delivery_id: str | None = None, reason: str | None = None,
                    event_id: int | None = None) -> OutboxRow | None:
    data = {"camera_id": camera_id, "institution_id": institution_id, "status": status, "reason": reason,
            "at": utcnow().isoformat(), "offline_event_id": event_id}
    return add(s, "camera.status", data, delivery_id=delivery_id, institution_id=institution_id, region=region,
               camera_id=camera_id, event_id=event_id)


def announce_review(s: Session, row: EventRow, region: str | None, reviewer: str) -> OutboxRow | None:
    """event.reviewed: the verdict (a confirmed event is news), who gave it, the reason code."""
    data = dict(event_data(row), verdict=row.review_status, reason=row.review_reason, reviewer=reviewer,
                reviewed_at=_iso(row.reviewed_at))
    return add(s, "event.reviewed", data, institution_id=row.institution_id, region=region, camera_id=row.camera_id,
               event_id=row.id)


@dataclass(frozen=True)
class Notification:
    """A published outbox row, as every channel sends it (the same envelope on webhooks, MQTT and the stream)."""

    seq: int
    delivery_id: str
    kind: str
    created_at: datetime
    institution_id: str | None
    region: str | None
    camera_id: str | None
    event_id: int | None
    data: dict

    @classmethod
    def of(cls, row: OutboxRow) -> "Notification":
        return cls(row.seq or 0, row.delivery_id, row.kind, as_utc(row.created_at), row.institution_id, row.region,
                   row.camera_id, row.event_id, dict(row.payload or {}))

    def envelope(self) -> dict:
        return {"delivery_id": self.delivery_id, "kind": self.kind, "created_at": self.created_at.isoformat(),
                "institution_id": self.institution_id, "region": self.region, "camera_id": self.camera_id,
                "event_id": self.event_id, "data": self.data}

    def body(self) -> bytes:
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":"), default=str).encode()
