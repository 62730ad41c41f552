"""Schemathesis hooks for tests/test_api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Two answers of the API are right although two checks flag them, because no OpenAPI schema can say why.
Each is let through only when the request and the response show exactly that case; anything else
still fails the run.
- `GET /api/cameras/{id}/snapshot.jpg` answers 503 (documented, ErrorOut) while the camera has not
  delivered a frame: the cameras of the fuzzed service are never started, so a known id always gets it.
  `not_a_server_error` counts every 5xx.
- `GET /api/events` (and `/api/audit`, `/api/stats`, `/api/stats/ranking`, `/api/stats/trend`) answers 422
  (documented) when `since` is not earlier than `until`: a rule across
  two parameters, which JSON Schema cannot state, so `positive_data_acceptance` sends such pairs.
- the inventory's writes (`POST`/`PUT /api/inventory/...`) answer 422 for a body that the configuration's own
  validators refuse (vigil/config.py: a polygon without area, a rule the camera's site kind cannot have, k > n,
  repeated zone names, a URL scheme, a body id that differs from the path's): rules across fields, which JSON
  Schema cannot state. Let through only when every error the response lists is such a validator's `value_error`
  (never a type, range, pattern or missing-field error, which the schema states).
- `POST /api/users` and `PATCH /api/users/{username}` answer 422 for a scope that does not fit the role (vigil/access.py
  `scope_for`): let through only when every listed error is that rule's `value_error` on `regions` or `institutions`.

Test data, as schemathesis advises for identifiers the schema cannot know: a camera is created under an existing
institution, with an id not taken yet, and replaced with the id of its path. `before_call` puts the fuzzed service's
institution `fy` and a fresh id (`fuzz-N`) into the valid (positive) bodies of `POST /api/inventory/cameras`, and `fy`
and the path's id into those of `PUT /api/inventory/cameras/{camera_id}`; drawn as they are, those name no
institution, reuse the id `exit1` that schemathesis learnt from the responses (409) or differ from the path, and the
routes' logic would hardly be reached; the valid bodies of `POST /api/intake/tokens` name `fy` or its region
(drawn, they name none: 404). Invalid (negative) bodies are sent as drawn. Likewise the valid bodies of
`POST /api/users` get the scope their role needs (drawn lists mostly do not fit it).
"""
from __future__ import annotations

import itertools
import json
import os
from datetime import datetime, timedelta

import schemathesis
from pydantic import TypeAdapter

_DATETIME = TypeAdapter(datetime)  # the parser the API uses for `since` / `until`
_US = timedelta(microseconds=1)
_FRESH = itertools.count(1)  # fresh camera ids


def _detail(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) and set(body) <= {"detail", "errors"} else None


def _utc_us(value) -> int | None:
    """Microseconds since 0001-01-01 UTC (naive = UTC), in integers: no overflow at the calendar's ends."""
    try:
        dt = _DATETIME.validate_python(value)
    except ValueError:
        return None
    off = dt.utcoffset() or timedelta(0)
    return (dt.replace(tzinfo=None) - datetime(1, 1, 1)) // _US - off // _US


def _camera_without_frame(case, response) -> bool:
    return (case.operation.label == "GET /api/cameras/{camera_id}/snapshot.jpg" and response.status_code == 503
            and (_detail(response) or "").endswith("has not delivered a frame yet"))


def _since_not_before_until(case, response) -> bool:
    if case.operation.label not in ("GET /api/events", "GET /api/audit", "GET /api/stats", "GET /api/stats/ranking",
                                    "GET /api/stats/trend") or response.status_code != 422:
        return False
    query = case.query or {}
    since, until = _utc_us(query.get("since")), _utc_us(query.get("until"))
    return (since is not None and until is not None and since >= until
            and _detail(response) == "'since' must be earlier than 'until'")


def _inventory_cross_field(case, response) -> bool:
    if response.status_code != 422 or case.method not in ("POST", "PUT") \
            or not case.operation.path.startswith("/api/inventory/"):
        return False
    try:
        errors = json.loads(response.content).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return bool(errors) and all(e.get("type") == "value_error" and e.get("loc", [None])[0] == "body" for e in errors)


# the ledger's answers that depend on what is stored, or on two fields at once (issue #16), each by its exact detail
_LEDGER_422 = {
    "POST /api/hazards/{hazard_id}/steps": ("'reject' needs a note saying why", "'reopen' needs a note saying why"),
    "PATCH /api/hazards/{hazard_id}": ("the deadline cannot be before the hazard was opened",),
    "POST /api/hazards/{hazard_id}/photos": ("the photo is empty", "the upload is not a readable JPEG, PNG or WebP picture"),
    "POST /api/intake/complaints": ("the photo is empty", "the upload is not a readable JPEG, PNG or WebP picture"),
}


def _ledger_rule(case, response) -> bool:
    """A 409 of the ledger (the hazard's or complaint's stored state does not allow it; documented), or a 422 from a
    rule across fields or about the uploaded bytes, which JSON Schema cannot state."""
    label = case.operation.label
    if response.status_code == 409 and (label.startswith("POST /api/hazards/") or label.startswith("PATCH /api/hazards/")
                                        or label == "POST /api/complaints/{complaint_id}/triage"):
        return bool(_detail(response))
    return response.status_code == 422 and _detail(response) in _LEDGER_422.get(label, ())


def _user_scope_rule(case, response) -> bool:
    """`POST /api/users`, `PATCH /api/users/{username}`: 422 for a scope that does not fit the role (an officer needs
    exactly one institution, a supervisor one region, ...; a PATCH keeps the stored scope lists it does not send), a
    rule across fields and the stored user, which JSON Schema cannot state. Only when every listed error is that
    rule's `value_error` on `regions` or `institutions`."""
    if response.status_code != 422 or case.operation.label not in ("POST /api/users", "PATCH /api/users/{username}"):
        return False
    try:
        errors = json.loads(response.content).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return bool(errors) and all(e.get("type") == "value_error" and e.get("loc") in (["body", "regions"],
                                                                                    ["body", "institutions"])
                                for e in errors)


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:
    """False drops the failure."""
    if failure.code == "ST101" and _camera_without_frame(case, response):
        return False
    if failure.code == "ST202" and (_since_not_before_until(case, response) or _inventory_cross_field(case, response)
                                    or _ledger_rule(case, response) or _user_scope_rule(case, response)):
        return False
    return True


def _fitting_scope(body: dict) -> dict:
    """regions / institutions of a drawn user body cut or filled to what its role needs (vigil/access.py scope_for):
    admin none; supervisor one region; officer one institution; reviewer, viewer at least one of either."""
    regions, institutions = list(body.get("regions") or []), list(body.get("institutions") or [])
    role = body.get("role")
    if role == "admin":
        return {"regions": [], "institutions": []}
    if role == "supervisor":
        return {"regions": regions[:1] or ["示范县/城关镇"], "institutions": []}
    if role == "officer":
        return {"regions": [], "institutions": institutions[:1] or ["fy"]}
    return {} if regions or institutions else {"institutions": ["fy"]}


LIVE_ROUTES = ("POST /api/cameras/{camera_id}/webrtc", "GET /api/cameras/{camera_id}/live.mjpeg",
               "DELETE /api/cameras/{camera_id}/webrtc/{session_id}", "GET /api/cameras/{camera_id}/detections")


@schemathesis.hook
def before_call(ctx, case, kwargs) -> None:
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    params = case.path_parameters or {}
    if case.operation.label == "DELETE /api/intake/tokens/{token_id}" and str(params.get("token_id")) == "2":
        case.path_parameters = {**params, "token_id": 1}  # revoke the throwaway, keep the form's token
    elif case.operation.label == "GET /intake/{token}" and positive:
        case.path_parameters = {**params, "token": os.environ.get("VIGIL_FUZZ_INTAKE", "")}
    elif case.operation.label in LIVE_ROUTES and positive:
        # a camera of the fuzzed service (not running there: 409, or no detections yet), not a drawn id that names
        # none (404)
        case.path_parameters = {**params, "camera_id": "exit1"}
    elif case.operation.label == "POST /api/hazards/{hazard_id}/photos" and positive:
        case.path_parameters = {**params, "hazard_id": 1}  # the seeded hazard: drawn ids name none (404)
    if not (isinstance(case.body, dict) and positive):
        return
    if case.operation.label == "POST /api/hazards":  # an existing institution, the policy's deadline
        case.body = {**{k: v for k, v in case.body.items() if k != "deadline_at"}, "institution_id": "fy"}
    elif case.operation.label == "POST /api/intake/complaints":  # the seeded intake token and its institution
        body = {k: v for k, v in case.body.items() if k != "photo"}  # bytes edited here would make the case invalid
        case.body = {**body, "token": os.environ.get("VIGIL_FUZZ_INTAKE", ""), "institution_id": "fy"}
    elif case.operation.label == "POST /api/inventory/cameras":
        case.body = {**case.body, "institution": "fy", "id": f"fuzz-{next(_FRESH)}"}
    elif case.operation.label == "POST /api/intake/tokens":  # an institution or region of the fuzzed service
        kind = case.body.get("kind")
        case.body = {**case.body, **({"institution_id": "fy"} if kind == "institution" else {"region": "示范县/城关镇"})}
    elif case.operation.label == "POST /api/users":  # the scope its role needs (drawn lists mostly do not fit)
        case.body = {**case.body, **_fitting_scope(case.body)}
    elif case.operation.label == "PUT /api/inventory/cameras/{camera_id}":
        case.body = {**case.body, "institution": "fy", "id": (case.path_parameters or {}).get("camera_id", "")}
