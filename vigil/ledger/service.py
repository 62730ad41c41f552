"""`Ledger`: the hazard ledger's part of the running service: the policy, the escalation maintainer, the camera
re-check processor, and what a confirmed event does (opens or joins a hazard)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.access import Principal
from vigil.api.db import EventRow
from vigil.api.db_ledger import HazardRow
from vigil.ledger.config import CATEGORIES, RULE_CATEGORY
from vigil.ledger.escalation import EscalationMaintainer
from vigil.ledger.hazards import Actor, from_confirmed_event
from vigil.ledger.recheck import RecheckProcessor


class Ledger:
    def __init__(self, rt):
        self.rt = rt
        self.escalation = EscalationMaintainer(rt.sessions, rt.cfg.hazards, lambda: rt.clock.now(),
                                               rt.regions_by_institution)
        self.recheck = RecheckProcessor(rt)

    @property
    def policy(self):
        return self.rt.cfg.hazards

    def start(self) -> None:
        self.escalation.start()
        self.recheck.start()

    def stop(self) -> None:
        self.escalation.stop()
        self.recheck.stop()

    def region(self, institution_id: str) -> str | None:
        return self.rt.regions_by_institution().get(institution_id)

    def title_for(self, ev: EventRow) -> str:
        cam = next((c for c in self.rt.cfg.cameras if c.id == ev.camera_id), None)
        where = "·".join(x for x in ((cam.name if cam else ev.camera_id), ev.zone) if x)
        return f"{where}：{CATEGORIES[RULE_CATEGORY.get(ev.rule, 'other')][0]}"

    def on_confirmed(self, s: Session, ev: EventRow, who: Principal | None, client: str | None = None) -> tuple[HazardRow, bool]:
        """A confirmed event opens a hazard or joins the open one of its camera, zone and rule (same transaction
        as the verdict)."""
        return from_confirmed_event(s, self.policy, self.rt.clock.now(), Actor(who, client=client), ev,
                                    self.region(ev.institution_id), self.title_for(ev))
