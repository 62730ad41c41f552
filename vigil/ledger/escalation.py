"""Deadlines and escalation: an overdue hazard goes up the region tree on the configured schedule
(institution -> township -> county), is supervised-listed (挂牌督办) by that region with the supervisor who owns it,
and is announced through the outbox (`hazard.escalated`).

`escalate_due` is one pass at a given time (tests call it with their clock); `EscalationMaintainer` runs it every
`hazards.escalation_check_s` with the runtime's clock. A pass only ever raises a hazard's level, so running it twice
changes nothing the second time, and two service processes escalating at once cannot list a hazard twice (the
UPDATE is conditional on the level read)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.access import normalise_region
from vigil.api.db import as_utc
from vigil.api.db_access import UserRow, UserScopeRow
from vigil.api.db_ledger import HazardRow
from vigil.ledger.config import HazardsConfig
from vigil.ledger.hazards import Actor, announce, audit_step, history
from vigil.loops import BackgroundLoop

log = logging.getLogger("vigil.ledger")
ACTOR = Actor(name="escalation")


def region_up(region: str, levels_up: int) -> str:
    """`levels_up` = 1: the institution's own region; 2: the one above; ... (never above the top of the path)."""
    parts = [p for p in normalise_region(region).split("/") if p]
    if not parts:
        return ""
    keep = max(1, len(parts) - (levels_up - 1))
    return "/".join(parts[:keep])


def supervisors_by_region(s: Session) -> dict[str, str]:
    """Region path -> the username of the (first, by id) enabled supervisor whose scope is exactly that region."""
    rows = s.execute(select(UserScopeRow.value, UserRow.username).join(UserRow, UserRow.id == UserScopeRow.user_id)
                     .where(UserRow.role == "supervisor", UserRow.disabled.is_(False), UserScopeRow.kind == "region")
                     .order_by(UserRow.id)).all()
    out: dict[str, str] = {}
    for region, name in rows:
        out.setdefault(normalise_region(region), name)
    return out


@dataclass(frozen=True)
class Escalation:
    hazard_id: int
    level: int
    region: str
    supervisor: str | None
    overdue_h: float


def escalate_due(s: Session, policy: HazardsConfig, now: datetime, regions: Mapping[str, str]) -> list[Escalation]:
    """Raise every overdue hazard (open or rectifying, past its deadline) to the level its lateness calls for.
    Commits each escalation with its history, audit and notification."""
    if not policy.escalation:
        return []
    owners = supervisors_by_region(s)
    due = s.scalars(select(HazardRow).where(HazardRow.state.in_(("open", "rectifying")), HazardRow.deadline_at < now)
                    .order_by(HazardRow.deadline_at)).all()
    done: list[Escalation] = []
    for h in due:
        overdue_h = (now - as_utc(h.deadline_at)).total_seconds() / 3600
        steps = [st.levels_up for st in policy.escalation if overdue_h >= st.overdue_h]
        if not steps or max(steps) <= (h.escalation_level or 0):
            continue
        level, before = max(steps), h.escalation_level or 0
        inst_region = regions.get(h.institution_id, "")
        target = region_up(inst_region, level) or inst_region
        owner = owners.get(target)
        res = s.execute(update(HazardRow).where(HazardRow.id == h.id, HazardRow.escalation_level == before)
                        .values(escalation_level=level, escalated_at=now, supervised=True, supervised_region=target,
                                supervisor=owner, updated_at=now).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            s.rollback()
            continue
        s.refresh(h)
        note = f"逾期 {overdue_h:.1f} 小时，升级至 {target} 挂牌督办" + (f"（督办人 {owner}）" if owner else "")
        history(s, h, ACTOR, "escalated", now, note=note,
                data={"level": level, "region": target, "supervisor": owner, "overdue_h": round(overdue_h, 2)})
        audit_step(s, h, ACTOR, "escalate", inst_region or None, before={"escalation_level": before},
               after={"escalation_level": level, "supervised_region": target, "supervisor": owner})
        announce(s, h, "hazard.escalated", inst_region or None, change="escalated", level=level,
                  supervised_region=target, supervisor=owner, overdue_h=round(overdue_h, 2))
        s.commit()
        done.append(Escalation(h.id, level, target, owner, round(overdue_h, 2)))
        log.info("hazard %d overdue %.1f h: escalated to level %d (%s)", h.id, overdue_h, level, target)
    return done


class EscalationMaintainer(BackgroundLoop):
    """Runs `escalate_due` every `policy.escalation_check_s` seconds; `now` is the runtime's clock (read at each
    pass, so a test that puts a ManualClock on the runtime drives it)."""
    thread_name = "hazard-escalation"

    def __init__(self, sessions: Callable[[], Session], policy: HazardsConfig, now: Callable[[], datetime],
                 regions: Callable[[], Mapping[str, str]]):
        super().__init__()
        self.sessions, self.policy, self.now, self.regions = sessions, policy, now, regions
        self.runs = 0
        self.escalated = 0
        self.last_error: str | None = None

    def run_once(self) -> list[Escalation]:
        with self.sessions() as s:
            done = escalate_due(s, self.policy, self.now(), self.regions())
        self.runs += 1
        self.escalated += len(done)
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.policy.escalation_check_s):
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - a database blink: the next pass tries again
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("escalation pass failed; the next one tries again", exc_info=True)
