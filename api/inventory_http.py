"""What the inventory routers share: the region bodies, the mapping of inventory errors to status codes, the audit
row of a change, and the live apply after the commit. The records themselves are validated by the configuration's
models (vigil/config.py: `Institution`, `Camera` with zones and rules), which the routes take as their bodies."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from vigil import audit, inventory
from vigil.access import Principal
from vigil.api.schemas import ID_PATTERN, MAX_ID
from vigil.api.security import client_address
from vigil.config import REGION_PATTERN
from vigil.service import Runtime

log = logging.getLogger("vigil.api")

RegionId = Annotated[int, Path(ge=1, le=MAX_ID, description="Region id.", examples=[1])]
InstitutionId = Annotated[str, Path(pattern=ID_PATTERN, description="Institution id (letters, digits, '-' and '_').")]
CameraId = Annotated[str, Path(pattern=ID_PATTERN, description="Camera id (letters, digits, '-' and '_').")]


class RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=255, pattern=REGION_PATTERN,
                      description="'/'-separated path from the county down, e.g. 示范县/城关镇 (missing parents are "
                                  "created). On update: the new path (rename or move; everything below follows).")


class RegionOut(BaseModel):
    id: int
    path: str
    name: str = Field(description="The last part of the path.")
    parent_id: int | None
    parent_path: str | None


@contextmanager
def inventory_errors() -> Iterator[None]:
    """NotFound -> 404, Conflict -> 409, OutOfScope -> 403, any other refusal -> 422."""
    try:
        yield
    except inventory.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except inventory.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except inventory.OutOfScope as exc:
        raise HTTPException(403, str(exc)) from None
    except inventory.InventoryError as exc:
        raise HTTPException(422, str(exc)) from None


def strict_json(model: type[BaseModel]) -> Callable[[Request], Awaitable[None]]:
    """A dependency: the JSON body must also pass `model` in pydantic's strict JSON mode, i.e. hold the JSON types its
    schema states (`true`, not `1`, for a boolean; a number, not `"2"`, for a rate; an integral number such as `3.0`
    passes for an integer, as JSON Schema says). The route's own body parameter (lax, as YAML is read) then yields
    the object; the YAML keeps accepting what it always did."""

    async def check(request: Request) -> None:
        try:
            model.model_validate_json(await request.body(), strict=True)
        except ValidationError as exc:
            errors = [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
                      if not (e["type"] == "int_type" and isinstance(e.get("input"), float) and e["input"].is_integer())]
            if errors:
                raise RequestValidationError(errors) from None

    check.__name__ = f"strict_{model.__name__.lower()}_body"
    return check


def invalid(field: str, msg: str) -> RequestValidationError:
    """A 422 naming the body field, shaped like pydantic's (the API's one error body)."""
    return RequestValidationError([{"loc": ("body", field), "msg": msg, "type": "value_error"}])


def same_id(body_id: str, path_id: str, what: str) -> None:
    if body_id != path_id:
        raise invalid("id", f"must equal the {what} id in the path ('{path_id}'): ids do not change")


def record(s: Session, request: Request, who: Principal, action: str, kind: str, object_id: object, *,
           institution_id: str | None, region: str | None, before: dict | None, after: dict | None) -> None:
    """The audit row of one change (views: passwords redacted), in the change's own transaction."""
    audit.record(s, who, f"inventory.{kind}.{action}", client=client_address(request), object_type=kind,
                 object_id=object_id, institution_id=institution_id, region=region, before=before, after=after)


def commit_and_apply(s: Session, rt: Runtime) -> None:
    """Commit the change and its audit row, then make the running service match (cameras, zones, scopes)."""
    s.commit()
    try:
        changed = rt.apply_inventory()
    except Exception:  # noqa: BLE001 - the change is stored; the cameras report their own state
        log.exception("inventory change stored, but applying it to the running service failed")
        return
    if any(changed.values()):
        log.info("inventory applied: %s", {k: v for k, v in changed.items() if v})
