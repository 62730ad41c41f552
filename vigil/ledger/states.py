"""The hazard state machine and who may take which step (no web framework, no database).

    open ──start──► rectifying ──submit──► submitted ──verify──► verified ──close──► closed
                        ▲                      │                    │                  │
                        └──────reject──────────┘                    └────reopen────────┴──► open

- `start`: the institution begins the rectification (`hazards.rectify`: its officer, or an admin).
- `submit`: the rectification is done (after-photo, note); a camera-found hazard then gets a camera re-check.
- `reject`: the verifier sends it back to rectifying, with a note (`hazards.verify`: a supervisor or reviewer).
- `verify`: the verifier accepts it; never the person who submitted it; a re-check that saw the hazard still
  there needs an explicit override note.
- `close`: the hazard leaves the ledger (对账销号), by a verifier.
- `reopen`: a verified or closed hazard comes back (seen again, or closed by mistake), by a verifier.

An illegal step answers `IllegalTransition` (409) naming the state and the steps allowed from it.
"""
from __future__ import annotations

from dataclasses import dataclass

STATES = ("open", "rectifying", "submitted", "verified", "closed")
OPEN_STATES = ("open", "rectifying", "submitted", "verified")  # not closed: a new sighting joins it


@dataclass(frozen=True)
class Step:
    name: str
    sources: tuple[str, ...]
    target: str
    permission: str
    note_required: bool = False


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("start", ("open",), "rectifying", "hazards.rectify"),
    Step("submit", ("rectifying",), "submitted", "hazards.rectify"),
    Step("reject", ("submitted",), "rectifying", "hazards.verify", note_required=True),
    Step("verify", ("submitted",), "verified", "hazards.verify"),
    Step("close", ("verified",), "closed", "hazards.verify"),
    Step("reopen", ("verified", "closed"), "open", "hazards.verify", note_required=True),
)}


class LedgerError(ValueError):
    """A request that does not make sense (422)."""


class IllegalTransition(RuntimeError):
    """A step not allowed from the hazard's state (409)."""


class NotAllowed(PermissionError):
    """The caller's role may not take this step, or the same person would submit and verify (403)."""


def allowed_from(state: str) -> list[str]:
    return [s.name for s in STEPS.values() if state in s.sources]


def check_step(step: str, state: str) -> Step:
    """The step, when it may be taken from `state`; IllegalTransition (naming the allowed steps) otherwise."""
    if step not in STEPS:
        raise LedgerError(f"unknown step {step!r} (steps: {', '.join(STEPS)})")
    s = STEPS[step]
    if state not in s.sources:
        allowed = allowed_from(state)
        raise IllegalTransition(f"step '{step}' is not allowed from state '{state}'; allowed from '{state}': "
                                f"{', '.join(allowed) if allowed else 'nothing'}")
    return s


def steps_for(state: str, can: set[str] | frozenset[str]) -> list[str]:
    """The steps a caller with permissions `can` may take from `state` (what the UI offers)."""
    return [n for n in allowed_from(state) if STEPS[n].permission in can]
