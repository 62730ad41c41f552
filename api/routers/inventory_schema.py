"""`/api/inventory/schema`: what a camera body may hold, for forms (the web app's zone editor): the configuration's
JSON Schema with each field's title and description, the detector classes rules may name, and which rule types each
site kind allows (the same checks `Camera` makes on save)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from vigil.access import Principal
from vigil.api.errors import error_responses
from vigil.api.security import require
from vigil.config import RULE_SITE_KINDS, RULE_TYPES, Camera, SiteKind
from vigil.models.catalogue import COCO_CLASSES
from vigil.vision.vocabulary import vigil_class_list

router = APIRouter(tags=["inventory"])


class InventorySchema(BaseModel):
    camera: dict = Field(description="JSON Schema (draft 2020-12) of a camera body: zones, rules, schedules; every "
                                     "field with its title, description, default and bounds.")
    object_classes: list[str] = Field(description="Classes of the object detector that rules may name, in vigil's names: COCO's, with bicycle and motorcycle as one class, ebike, and backpack, handbag and suitcase as one, bag.")
    fire_classes: list[str] = Field(description="Classes of the fire/smoke detector.")
    rule_types: dict[str, list[str]] = Field(description="Site kind -> the rule types a camera of that kind may hold.")


def rule_types_by_site_kind() -> dict[str, list[str]]:
    kinds = SiteKind.__args__  # type: ignore[attr-defined]
    return {k: [r for r in RULE_TYPES if r not in RULE_SITE_KINDS or k in RULE_SITE_KINDS[r][0]] for k in kinds}


@router.get("/api/inventory/schema", response_model=InventorySchema, responses=error_responses(401, 403),
            summary="The camera schema with titles and descriptions, for forms")
def inventory_schema(_: Principal = Depends(require("inventory.read"))) -> InventorySchema:
    return InventorySchema(camera=Camera.model_json_schema(), object_classes=vigil_class_list(COCO_CLASSES),
                           fire_classes=["fire", "smoke"], rule_types=rule_types_by_site_kind())
