"""`GateCounter`: the sink that records the gate rule's crossings as hourly counts (`gate_counts`).

Each crossing is added to an in-memory tally and the tally is written at once (one transaction, one row per camera,
zone and UTC hour, incremented). While the database cannot be reached the tally keeps growing and is written with
the next crossing after it answers, or by `flush` at shutdown: counts wait, they are not lost while the process
lives."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from vigil.api.db import as_utc
from vigil.api.db_gate import GateCountRow
from vigil.vision.events import Crossing

log = logging.getLogger("vigil.api")


def hour_of(wall: datetime) -> datetime:
    """The start of the UTC hour `wall` (aware, or naive UTC) falls in."""
    return as_utc(wall).replace(minute=0, second=0, microsecond=0)


class GateCounter:
    def __init__(self, sessions: sessionmaker, institution_of: Callable[[], Mapping[str, str]]):
        """`institution_of`: returns camera id -> institution id (the service's current inventory)."""
        self.sessions = sessions
        self.institution_of = institution_of
        self._tally: dict[tuple[str, str, datetime], list[int]] = {}
        self._lock = threading.Lock()
        self._failing = False

    def crossed(self, crossing: Crossing) -> None:
        key = (crossing.camera_id, crossing.zone, hour_of(crossing.wall))
        with self._lock:
            counts = self._tally.setdefault(key, [0, 0, 0])
            counts[0 if crossing.direction == "in" else 1] += 1
            if crossing.direction == "out" and crossing.night:
                counts[2] += 1
            self._flush()

    @property
    def waiting(self) -> int:
        """Crossings counted but not yet written."""
        with self._lock:
            return sum(a + b for a, b, _ in self._tally.values())

    def flush(self) -> bool:
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        if not self._tally:
            return True
        try:
            with self.sessions.begin() as s:
                for (camera, zone, hour), (entries, exits, night) in self._tally.items():
                    row = s.scalar(select(GateCountRow).where(GateCountRow.camera_id == camera,
                                                              GateCountRow.zone == zone, GateCountRow.hour == hour))
                    if row is None:
                        s.add(GateCountRow(camera_id=camera, institution_id=self.institution_of().get(camera, ""),
                                           zone=zone, hour=hour, entries=entries, exits=exits, night_out=night))
                    else:
                        row.entries += entries
                        row.exits += exits
                        row.night_out += night
        except SQLAlchemyError as exc:
            if not self._failing:
                log.warning("gate counts: cannot write them yet, they wait in memory (%s)", str(exc).splitlines()[0][:200])
            self._failing = True
            return False
        if self._failing:
            log.info("gate counts: written again")
        self._tally.clear()
        self._failing = False
        return True
