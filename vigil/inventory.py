"""The inventory as database records: regions, institutions, cameras with their zones and rules (no web framework).

Every record is validated by the configuration's own pydantic models (`Institution`, `Camera` with its `Zone`s and
rules, vigil/config.py) before it is written, and loading the rows back gives the same objects the YAML gives. The
API (api/routers/inventory_*.py), `vigil inventory import` and the service's first start write through here; the
running service reads `load()` (vigil/service.py, `Runtime.apply_inventory`).

Regions are rows per path (`示范县/城关镇`) with their parent; an institution's region path creates the rows it needs.
Renaming or moving a region renames everything below it, and the region scopes of users that named it follow.
A stream URL keeps its password in the database; views show it through `redact_url` only. A write that sends back
the redacted URL it was shown (`rtsp://admin:***@...`) keeps the stored password.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.access import Scope, normalise_region, region_covers
from vigil.api.db_access import UserScopeRow
from vigil.api.db_inventory import CameraRow, InstitutionRow, RegionRow, RuleRow, ZoneRow
from vigil.config import Camera, Institution, redact_url

CAMERA_COLUMNS = ("name", "url", "site_kind", "detect_fps", "enabled", "offline_after_s", "keyframes_only", "loop")


class InventoryError(Exception):
    """A change the inventory refuses; the API maps the kinds to status codes."""


class NotFound(InventoryError):
    """No such record (or one outside the caller's scope: the same answer)."""


class Conflict(InventoryError):
    """The change clashes with what exists: a duplicate, or a record still in use."""


class OutOfScope(InventoryError):
    """The change would put a record outside the caller's scope (a region they do not supervise)."""


# -- reading ----------------------------------------------------------------------------------------------------
def institution_of(row: InstitutionRow) -> Institution:
    return Institution(id=row.id, name=row.name, region=row.region.path, kind=row.kind)


def camera_of(row: CameraRow) -> Camera:
    """The `Camera` the rows describe (validated again, as the YAML would be)."""
    data: dict[str, Any] = {"id": row.id, "institution": row.institution_id, **{c: getattr(row, c) for c in CAMERA_COLUMNS}}
    data["zones"] = [{"name": z.name, "polygon": z.polygon, "rules": [{"type": r.type, **r.params} for r in z.rules]}
                     for z in row.zones]
    return Camera.model_validate(data)


def load(s: Session) -> tuple[list[Institution], list[Camera]]:
    """The whole inventory, in its order (that of the file it was imported from, then creation)."""
    insts = s.scalars(select(InstitutionRow).order_by(InstitutionRow.position, InstitutionRow.id)).unique().all()
    cams = s.scalars(select(CameraRow).order_by(CameraRow.position, CameraRow.id)).all()
    return [institution_of(r) for r in insts], [camera_of(r) for r in cams]


def is_empty(s: Session) -> bool:
    """True before anything was imported or created (no region, no institution)."""
    return not s.scalar(select(func.count()).select_from(InstitutionRow)) and \
        not s.scalar(select(func.count()).select_from(RegionRow))


def regions_by_institution(s: Session) -> dict[str, str]:
    return dict(s.execute(select(InstitutionRow.id, RegionRow.path).join(RegionRow)).all())


# -- views (API output and audit before/after: never a password) --------------------------------------------------
def region_view(row: RegionRow, s: Session) -> dict:
    parent = s.get(RegionRow, row.parent_id) if row.parent_id is not None else None
    return {"id": row.id, "path": row.path, "name": row.name, "parent_id": row.parent_id,
            "parent_path": parent.path if parent else None}


def institution_view(inst: Institution) -> dict:
    return inst.model_dump(mode="json")


def camera_view(cam: Camera) -> dict:
    out = cam.model_dump(mode="json")
    out["url"] = redact_url(cam.url)
    return out


# -- regions ------------------------------------------------------------------------------------------------------
def _clean_path(path: str) -> str:
    clean = normalise_region(path)
    if not clean:
        raise InventoryError("region: the path has no part (e.g. 示范县/城关镇)")
    if len(clean) > 255:
        raise InventoryError("region: the path is longer than 255 characters")
    return clean


def region_by_path(s: Session, path: str) -> RegionRow | None:
    return s.scalar(select(RegionRow).where(RegionRow.path == normalise_region(path)))


def ensure_region(s: Session, path: str) -> RegionRow:
    """The row of `path`, creating it and any missing ancestor."""
    parent: RegionRow | None = None
    parts = _clean_path(path).split("/")
    for i in range(len(parts)):
        here = "/".join(parts[:i + 1])
        row = s.scalar(select(RegionRow).where(RegionRow.path == here))
        if row is None:
            row = RegionRow(path=here, name=parts[i], parent_id=parent.id if parent else None)
            s.add(row)
            s.flush()
        parent = row
    assert parent is not None
    return parent


def create_region(s: Session, path: str) -> RegionRow:
    clean = _clean_path(path)
    if region_by_path(s, clean) is not None:
        raise Conflict(f"region {clean} exists")
    return ensure_region(s, clean)


def move_region(s: Session, row: RegionRow, new_path: str) -> RegionRow:
    """Rename or move `row` (and everything below it) to `new_path`; user scopes naming it follow."""
    old, new = row.path, _clean_path(new_path)
    if new == old:
        return row
    if region_covers(old, new):
        raise Conflict(f"region {old} cannot move below itself ({new})")
    if region_by_path(s, new) is not None:
        raise Conflict(f"region {new} exists")
    below = s.scalars(select(RegionRow).where(RegionRow.path.startswith(old + "/", autoescape=True))).all()
    longest = max([len(new)] + [len(new) + len(r.path) - len(old) for r in below])
    if longest > 255:
        raise Conflict(f"region {old} cannot become {new}: a path below it would be {longest} characters long (at most 255)")
    parent = ensure_region(s, new.rsplit("/", 1)[0]) if "/" in new else None
    row.path, row.name, row.parent_id = new, new.rsplit("/", 1)[-1], parent.id if parent else None
    for r in below:
        r.path = new + r.path[len(old):]
    for sc in s.scalars(select(UserScopeRow).where(UserScopeRow.kind == "region")).all():
        if region_covers(old, sc.value):
            sc.value = new + normalise_region(sc.value)[len(old):]
    s.flush()
    return row


def delete_region(s: Session, row: RegionRow) -> None:
    if s.scalar(select(func.count()).select_from(RegionRow).where(RegionRow.parent_id == row.id)):
        raise Conflict(f"region {row.path} has regions below it: delete or move them first")
    if s.scalar(select(func.count()).select_from(InstitutionRow).where(InstitutionRow.region_id == row.id)):
        raise Conflict(f"region {row.path} has institutions: delete or move them first")
    s.delete(row)
    s.flush()


# -- institutions ---------------------------------------------------------------------------------------------------
def _next_position(s: Session, table) -> int:
    return (s.scalar(select(func.max(table.position))) or 0) + 1


def put_institution(s: Session, inst: Institution, *, create: bool, position: int | None = None) -> InstitutionRow:
    """Create (Conflict when the id exists) or replace (NotFound when it does not) an institution."""
    inst = Institution.model_validate(inst.model_dump())
    row = s.get(InstitutionRow, inst.id)
    if create and row is not None:
        raise Conflict(f"institution '{inst.id}' exists")
    if not create and row is None:
        raise NotFound(f"institution '{inst.id}' does not exist")
    region = ensure_region(s, inst.region)
    if row is None:
        row = InstitutionRow(id=inst.id, position=position if position is not None else _next_position(s, InstitutionRow))
        s.add(row)
    elif position is not None:
        row.position = position
    row.name, row.kind, row.region_id, row.region = inst.name, inst.kind, region.id, region
    s.flush()
    return row


def delete_institution(s: Session, institution_id: str) -> Institution:
    row = s.get(InstitutionRow, institution_id)
    if row is None:
        raise NotFound(f"institution '{institution_id}' does not exist")
    n = s.scalar(select(func.count()).select_from(CameraRow).where(CameraRow.institution_id == institution_id))
    if n:
        raise Conflict(f"institution '{institution_id}' has {n} camera(s): delete or move them first")
    before = institution_of(row)
    s.delete(row)
    s.flush()
    return before


# -- cameras ------------------------------------------------------------------------------------------------------
def keep_secret(url: str, stored: str | None) -> str:
    """The stored URL when `url` is its redacted form (a client sending back what it was shown)."""
    return stored if stored is not None and url != stored and url == redact_url(stored) else url


def put_camera(s: Session, cam: Camera, *, create: bool, position: int | None = None) -> CameraRow:
    """Create (Conflict when the id exists) or replace (NotFound when it does not) a camera with its zones and rules.
    The institution must exist (InventoryError otherwise, as `vigil config check` refuses an unknown one)."""
    row = s.get(CameraRow, cam.id)
    if create and row is not None:
        raise Conflict(f"camera '{cam.id}' exists")
    if not create and row is None:
        raise NotFound(f"camera '{cam.id}' does not exist")
    if s.get(InstitutionRow, cam.institution) is None:
        raise InventoryError(f"institution: unknown institution '{cam.institution}'")
    data = cam.model_dump(exclude_unset=True)  # rules keep only the parameters given: the rest stay defaults
    data["url"] = keep_secret(cam.url, row.url if row else None)
    cam = Camera.model_validate(data)  # the same checks as the YAML, on what will be stored
    if row is None:
        row = CameraRow(id=cam.id, position=position if position is not None else _next_position(s, CameraRow))
        s.add(row)
    elif position is not None:
        row.position = position
    row.institution_id = cam.institution
    for c in CAMERA_COLUMNS:
        setattr(row, c, getattr(cam, c))
    row.zones.clear()
    s.flush()  # the old zones go before new ones with the same names arrive
    for zi, z in enumerate(cam.zones):
        zone = ZoneRow(position=zi, name=z.name, polygon=[list(p) for p in z.polygon])
        zone.rules = [RuleRow(position=ri, type=r.type, params=r.model_dump(mode="json", exclude_unset=True, exclude={"type"}))
                      for ri, r in enumerate(z.rules)]
        row.zones.append(zone)
    s.flush()
    return row


def delete_camera(s: Session, camera_id: str) -> Camera:
    row = s.get(CameraRow, camera_id)
    if row is None:
        raise NotFound(f"camera '{camera_id}' does not exist")
    before = camera_of(row)
    s.delete(row)
    s.flush()
    return before


# -- scope --------------------------------------------------------------------------------------------------------
def region_visible(scope: Scope, path: str, regions_by_institution: dict[str, str]) -> bool:
    """A region is visible when a scope region covers it, or when it is (above) the region of a visible institution."""
    if scope.everything or any(region_covers(r, path) for r in scope.regions):
        return True
    return any(region_covers(path, region) for i, region in regions_by_institution.items() if scope.covers(i, region))


def may_place_in(scope: Scope, path: str) -> bool:
    """Whether the caller may put a record in region `path` (an admin anywhere, a supervisor within their region)."""
    return scope.everything or any(region_covers(r, path) for r in scope.regions)


def may_edit_region(scope: Scope, path: str) -> bool:
    """Rename, move or delete a region: an admin any; a supervisor those strictly below their own region."""
    return scope.everything or any(region_covers(r, path) and normalise_region(path) != r for r in scope.regions)


__all__ = ["Conflict", "InventoryError", "NotFound", "OutOfScope", "camera_of", "camera_view", "create_region",
           "delete_camera", "delete_institution", "delete_region", "ensure_region", "institution_of",
           "institution_view", "is_empty", "keep_secret", "load", "may_edit_region", "may_place_in", "move_region",
           "put_camera", "put_institution", "region_by_path", "region_view", "region_visible",
           "regions_by_institution"]
