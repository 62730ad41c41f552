"""Who may do what, and over which institutions: roles, permissions and scopes (no web framework here).

Roles (issue #15):
- admin: everything, everywhere; manages users and API tokens.
- supervisor: one region and everything below it (a township, or a county with its townships); reads, reviews,
  watches evidence and live video, edits the inventory and reads the audit log of that region.
- officer: one institution; reads its events, watches its evidence and live video.
- reviewer: the regions and/or institutions assigned; reads and reviews events, watches evidence and live video.
- viewer: the regions and/or institutions assigned; read-only (events, evidence, live video).

A region is a '/'-separated path from the county down (`示范县/城关镇`); a region covers itself and every path
below it (`示范县` covers `示范县/城关镇` but not `示范县二`). An object outside a caller's scope is reported as
not found, so its existence does not leak; a permission the role lacks is refused as forbidden.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ROLES = ("admin", "supervisor", "officer", "reviewer", "viewer")

# the permission matrix (README, "Who may do what"); every route asks for exactly one of these
# the hazard ledger (issue #16): the institution's officer rectifies and submits; a supervisor or reviewer verifies
# (never the one who submitted); supervisors triage complaints and hand out intake tokens of their region
LEDGER: dict[str, tuple[str, ...]] = {
    "admin": ("hazards.read", "hazards.create", "hazards.assign", "hazards.rectify", "hazards.verify",
              "hazards.comment", "hazards.supervise", "complaints.triage", "intake.manage", "stats.read",
              "reports.read"),
    "supervisor": ("hazards.read", "hazards.create", "hazards.assign", "hazards.verify", "hazards.comment",
                   "hazards.supervise", "complaints.triage", "intake.manage", "stats.read", "reports.read"),
    "officer": ("hazards.read", "hazards.create", "hazards.assign", "hazards.rectify", "hazards.comment",
                "stats.read"),
    "reviewer": ("hazards.read", "hazards.create", "hazards.verify", "hazards.comment", "stats.read"),
    "viewer": ("hazards.read", "stats.read", "reports.read"),
}

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"events.read", "events.review", "media.view", "live.view", "inventory.read", "inventory.edit",
                        "audit.read", "users.manage", "tokens.manage", "metrics.read",
                        "notifications.manage", *LEDGER["admin"]}),
    "supervisor": frozenset({"events.read", "events.review", "media.view", "live.view", "inventory.read",
                             "inventory.edit", "audit.read", *LEDGER["supervisor"]}),
    "officer": frozenset({"events.read", "media.view", "live.view", "inventory.read", *LEDGER["officer"]}),
    "reviewer": frozenset({"events.read", "events.review", "media.view", "live.view", "inventory.read",
                           *LEDGER["reviewer"]}),
    "viewer": frozenset({"events.read", "media.view", "live.view", "inventory.read", *LEDGER["viewer"]}),
}
ACTIONS = frozenset().union(*PERMISSIONS.values())


def normalise_region(path: str) -> str:
    """`示范县 / 城关镇/` -> `示范县/城关镇` (parts stripped, empty parts dropped)."""
    parts = [p.strip() for p in str(path).split("/")]
    return "/".join(p for p in parts if p)


def region_covers(region: str, path: str) -> bool:
    """True when `path` is `region` or lies below it."""
    region, path = normalise_region(region), normalise_region(path)
    return bool(region) and (path == region or path.startswith(region + "/"))


@dataclass(frozen=True)
class Scope:
    """The institutions a caller may see: all of them, or those in `regions` (with everything below) plus
    `institutions` by id."""

    everything: bool = False
    regions: frozenset[str] = field(default_factory=frozenset)
    institutions: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def all(cls) -> Scope:
        return cls(everything=True)

    def covers(self, institution_id: str, region: str | None) -> bool:
        if self.everything or institution_id in self.institutions:
            return True
        return region is not None and any(region_covers(r, region) for r in self.regions)

    def institution_ids(self, regions_by_institution: Mapping[str, str]) -> frozenset[str] | None:
        """The visible institution ids among `regions_by_institution` (id -> region path); None means all
        (no filter needed). Institutions assigned by id count even when not (yet) in the mapping."""
        if self.everything:
            return None
        seen = {i for i, region in regions_by_institution.items() if self.covers(i, region)}
        return frozenset(seen | set(self.institutions))

    def describe(self) -> str:
        if self.everything:
            return "all institutions"
        parts = [f"region {r}" for r in sorted(self.regions)] + [f"institution {i}" for i in sorted(self.institutions)]
        return ", ".join(parts) or "nothing"


class AccessError(ValueError):
    """A role and scope that do not fit together (e.g. an officer with two institutions)."""


def scope_for(role: str, regions: Iterable[str] = (), institutions: Iterable[str] = ()) -> Scope:
    """The scope a role's assignments give; checks the assignments fit the role."""
    regions = frozenset(normalise_region(r) for r in regions if normalise_region(r))
    institutions = frozenset(str(i) for i in institutions)
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if role == "admin":
        if regions or institutions:
            raise AccessError("an admin sees everything: give no --region or --institution")
        return Scope.all()
    if role == "supervisor" and (len(regions) != 1 or institutions):
        raise AccessError("a supervisor needs exactly one --region (and no --institution)")
    if role == "officer" and (len(institutions) != 1 or regions):
        raise AccessError("an officer needs exactly one --institution (and no --region)")
    if role in ("reviewer", "viewer") and not (regions or institutions):
        raise AccessError(f"a {role} needs at least one --region or --institution")
    return Scope(False, regions, institutions)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting through a browser session or a bearer token."""

    user_id: int
    username: str
    role: str
    scope: Scope
    via: str = "session"  # session | token | metrics
    credential_id: str | None = None  # the session's or API token's id (never the secret)

    def can(self, action: str) -> bool:
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action!r}")
        return action in PERMISSIONS.get(self.role, frozenset())
