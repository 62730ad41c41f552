"""The configuration file and the inventory records: import (upsert, optionally prune) and export (no web framework).

`vigil inventory import FILE` and the service's first start (an empty database takes the config's institutions and
cameras) run `import_inventory`; `vigil inventory export` runs `export_inventory`, whose YAML `vigil config check`
accepts. Each change is written to the audit log with its before/after (passwords redacted), in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import audit
from vigil.access import Principal, normalise_region
from vigil.api.db_inventory import CameraRow, InstitutionRow, RegionRow
from vigil.config import Camera, Institution, redact_url
from vigil.inventory import (camera_of, camera_view, delete_camera, delete_institution, delete_region, institution_of,
                             institution_view, put_camera, put_institution)


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)  # "institution fy", "camera exit1", "region 示范县"
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added {x}" for x in self.added] + [f"changed {x}" for x in self.changed]
        out += [f"removed {x}" for x in self.removed] + [f"warning: {w}" for w in self.warnings]
        out.append(f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                   f"{self.unchanged} unchanged")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed, "unchanged": self.unchanged,
                "warnings": self.warnings}


def _audit(s: Session, who: Principal | None, actor: str | None, client: str, action: str, kind: str, oid: str,
           institution_id: str | None, region: str | None, before: dict | None, after: dict | None) -> None:
    audit.record(s, who, f"inventory.{kind}.{action}", client=client, username=actor, object_type=kind, object_id=oid,
                 institution_id=institution_id, region=region, before=before, after=after)


def import_inventory(s: Session, institutions: list[Institution], cameras: list[Camera], *, prune: bool = False,
                     who: Principal | None = None, actor: str | None = None, client: str = "cli") -> ImportReport:
    """Upsert the file's institutions and cameras (their zones and rules with them) in the file's order; with `prune`,
    remove the cameras, institutions and regions the file does not name. Nothing is committed here."""
    rep = ImportReport()
    known_regions = set(s.scalars(select(RegionRow.path)).all())

    def note_regions() -> None:
        for path in sorted(set(s.scalars(select(RegionRow.path)).all()) - known_regions):
            rep.added.append(f"region {path}")
            _audit(s, who, actor, client, "create", "region", path, None, path, None, {"path": path})
            known_regions.add(path)

    for pos, inst in enumerate(institutions):
        row = s.get(InstitutionRow, inst.id)
        before = institution_of(row) if row is not None else None
        put_institution(s, inst, create=row is None, position=pos)
        note_regions()
        after = institution_of(s.get(InstitutionRow, inst.id))
        if before == after:
            rep.unchanged += 1
            continue
        (rep.changed if before else rep.added).append(f"institution {inst.id}")
        _audit(s, who, actor, client, "update" if before else "create", "institution", inst.id, inst.id, after.region,
               before and institution_view(before), institution_view(after))
    regions = {i.id: normalise_region(i.region) for i in institutions}
    for pos, cam in enumerate(cameras):
        row = s.get(CameraRow, cam.id)
        before = camera_of(row) if row is not None else None
        if before is None and "***" in cam.url and redact_url(cam.url) == cam.url:
            rep.warnings.append(f"camera {cam.id}: the URL's password is '***' (an export without --with-secrets?)")
        put_camera(s, cam, create=row is None, position=pos)
        after = camera_of(s.get(CameraRow, cam.id))
        if before == after:
            rep.unchanged += 1
            continue
        (rep.changed if before else rep.added).append(f"camera {cam.id}")
        _audit(s, who, actor, client, "update" if before else "create", "camera", cam.id, cam.institution,
               regions.get(cam.institution), before and camera_view(before), camera_view(after))
    if prune:
        _prune(s, rep, {i.id for i in institutions}, {c.id for c in cameras}, set(regions.values()), who, actor, client)
    s.flush()
    return rep


def _prune(s: Session, rep: ImportReport, inst_ids: set[str], cam_ids: set[str], paths: set[str],
           who: Principal | None, actor: str | None, client: str) -> None:
    region_of = dict(s.execute(select(InstitutionRow.id, RegionRow.path).join(RegionRow)).all())
    for cid in s.scalars(select(CameraRow.id).where(CameraRow.id.not_in(cam_ids)).order_by(CameraRow.id)).all():
        gone = delete_camera(s, cid)
        rep.removed.append(f"camera {cid}")
        _audit(s, who, actor, client, "delete", "camera", cid, gone.institution, region_of.get(gone.institution),
               camera_view(gone), None)
    for iid in s.scalars(select(InstitutionRow.id).where(InstitutionRow.id.not_in(inst_ids))
                         .order_by(InstitutionRow.id)).all():
        gone = delete_institution(s, iid)
        rep.removed.append(f"institution {iid}")
        _audit(s, who, actor, client, "delete", "institution", iid, iid, gone.region, institution_view(gone), None)
    keep = {"/".join(p.split("/")[:n]) for p in paths for n in range(1, p.count("/") + 2)}
    for row in sorted(s.scalars(select(RegionRow)).all(), key=lambda r: -r.path.count("/")):  # leaves first
        if row.path not in keep:
            path = row.path
            delete_region(s, row)
            rep.removed.append(f"region {path}")
            _audit(s, who, actor, client, "delete", "region", path, None, path, {"path": path}, None)


def export_inventory(s: Session, *, with_secrets: bool = False) -> dict[str, Any]:
    """The inventory as a configuration mapping (`institutions`, `cameras`): what `vigil config check` reads.
    Defaults are left out, as a person would write the file; passwords are `***` unless `with_secrets`."""
    from vigil.inventory import load

    institutions, cameras = load(s)
    out_inst = [inst.model_dump(mode="json", exclude_defaults=True) | {"kind": inst.kind} for inst in institutions]
    out_cams = []
    for row, cam in zip(s.scalars(select(CameraRow).order_by(CameraRow.position, CameraRow.id)).all(), cameras):
        d = cam.model_dump(mode="json", exclude_defaults=True, exclude={"zones"})
        d = {"id": cam.id, "name": cam.name, "url": cam.url if with_secrets else redact_url(cam.url),
             "institution": cam.institution, "site_kind": cam.site_kind, **d}
        d["url"] = cam.url if with_secrets else redact_url(cam.url)
        d["zones"] = [{"name": z.name, "polygon": [list(p) for p in z.polygon],
                       "rules": [{"type": r.type, **r.params} for r in zrow.rules]}
                      for z, zrow in zip(cam.zones, row.zones)]
        out_cams.append(d)
    return {"institutions": out_inst, "cameras": out_cams}


def export_yaml(s: Session, *, with_secrets: bool = False) -> str:
    head = ("# vigil inventory export: institutions and cameras (zones, rules) from the database.\n"
            + ("" if with_secrets else "# Passwords are shown as ***: export --with-secrets to include them.\n"))
    return head + yaml.safe_dump(export_inventory(s, with_secrets=with_secrets), allow_unicode=True, sort_keys=False,
                                 default_flow_style=None, width=120)
