"""The audit log: one append-only row per write and per view of evidence or live video (no web framework here).

`record` adds a row in the caller's session, so the row commits or rolls back with the change it describes.
Media views are recorded in their own short transaction before the bytes go out. The table refuses UPDATE and
DELETE at the database (triggers, migration 0003); nothing in vigil edits or deletes it.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from vigil.access import Principal, Scope
from vigil.api.db import as_utc
from vigil.api.db_access import AuditRow

CSV_FIELDS = ("id", "at", "username", "role", "client", "action", "object_type", "object_id", "institution_id",
              "region", "outcome", "before", "after", "note")


class ViewCoalescer:
    """Repeated views of the same thing by the same person (a live wall refreshing its thumbnails every few seconds)
    are one audit row per `window_s`: who looked at which camera, and since when, stays on record without a row per
    refresh. Bounded: the oldest keys go first."""

    def __init__(self, window_s: float = 300.0, max_keys: int = 10000):
        self.window_s, self.max_keys = window_s, max_keys
        self._last: dict[tuple, float] = {}

    def due(self, key: tuple, now: float) -> bool:
        """True when `key` was not recorded in the last window_s seconds (the caller then records it)."""
        last = self._last.get(key)
        if last is not None and now - last < self.window_s:
            return False
        self._last.pop(key, None)
        self._last[key] = now
        while len(self._last) > self.max_keys:
            self._last.pop(next(iter(self._last)))
        return True


def record(s: Session, who: Principal | None, action: str, *, client: str | None = None,
           object_type: str | None = None, object_id: Any = None, institution_id: str | None = None,
           region: str | None = None, outcome: str = "ok", before: dict | None = None, after: dict | None = None,
           note: str | None = None, username: str | None = None) -> AuditRow:
    row = AuditRow(user_id=who.user_id if who else None, username=(who.username if who else username),
                   role=who.role if who else None, client=(client or "")[:64] or None, action=action[:48],
                   object_type=object_type, object_id=None if object_id is None else str(object_id)[:80],
                   institution_id=institution_id, region=region, outcome=outcome, before=before, after=after,
                   note=note)
    s.add(row)
    return row


def scoped(q: Select, scope: Scope, regions_by_institution: dict[str, str]) -> Select:
    """Audit rows a scope may read: rows about its institutions or regions (rows about no institution, such
    as logins and user management, only for `everything`)."""
    ids = scope.institution_ids(regions_by_institution)
    if ids is None:
        return q
    conds = [AuditRow.institution_id.in_(sorted(ids))]
    for r in scope.regions:
        conds += [AuditRow.region == r, AuditRow.region.like(r.replace("%", r"\%").replace("_", r"\_") + "/%", escape="\\")]
    return q.where(or_(*conds))


def query(s: Session, scope: Scope, regions_by_institution: dict[str, str], *, action: str | None = None,
          username: str | None = None, object_type: str | None = None, object_id: str | None = None,
          institution: str | None = None, since: datetime | None = None, until: datetime | None = None,
          limit: int = 100, offset: int = 0) -> tuple[list[AuditRow], int]:
    q = scoped(select(AuditRow), scope, regions_by_institution)
    for col, val in ((AuditRow.action, action), (AuditRow.username, username), (AuditRow.object_type, object_type),
                     (AuditRow.object_id, object_id), (AuditRow.institution_id, institution)):
        if val is not None:
            q = q.where(col == val)
    if since is not None:
        q = q.where(AuditRow.at >= since)
    if until is not None:
        q = q.where(AuditRow.at < until)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def row_view(r: AuditRow) -> dict:
    return {"id": r.id, "at": as_utc(r.at), "username": r.username, "role": r.role, "client": r.client,
            "action": r.action, "object_type": r.object_type, "object_id": r.object_id,
            "institution_id": r.institution_id, "region": r.region, "outcome": r.outcome, "before": r.before,
            "after": r.after, "note": r.note}


def to_csv(rows: Iterable[AuditRow]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        v = row_view(r)
        v["at"] = v["at"].isoformat() if v["at"] else ""
        for k in ("before", "after"):
            v[k] = "" if v[k] is None else json.dumps(v[k], ensure_ascii=False, default=str)
        w.writerow(v)
    return out.getvalue()
