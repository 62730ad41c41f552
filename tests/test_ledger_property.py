"""A property test of the hazard ledger (issue #16): random sequences of steps by random users, through the real
API on SQLite, checked against an independent model of the rules:

- a step succeeds only for a user who can see the hazard, whose role has the step's permission, from a state the
  step is allowed in, and (verify) who did not submit it; a hazard outside the user's scope always answers 404;
- the state in the database is always the model's, and always one of the five states;
- every closed hazard was verified (by someone other than its submitter) since it was last opened.

Hypothesis draws the sequences (bounded: VIGIL_PROPERTY_EXAMPLES, default 60 sequences of up to 40 steps, drawn toward legal steps
by able users about half of the time; the seed
is printed on failure and can be replayed)."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from vigil_fixtures import bearer, make_user, service_config

ROLES = {"admin": ("admin", {}), "county": ("supervisor", {"regions": ["示范县"]}),
         "town_c": ("supervisor", {"regions": ["示范县/城关镇"]}), "town_h": ("supervisor", {"regions": ["示范县/河西乡"]}),
         "off_fy": ("officer", {"institutions": ["fy"]}), "off_et": ("officer", {"institutions": ["et"]}),
         "rev_h": ("reviewer", {"regions": ["示范县/河西乡"]}), "view": ("viewer", {"institutions": ["fy", "et"]})}
SEES = {"admin": {"fy", "et"}, "county": {"fy", "et"}, "town_c": {"fy"}, "town_h": {"et"}, "off_fy": {"fy"},
        "off_et": {"et"}, "rev_h": {"et"}, "view": {"fy", "et"}}
# the model of the rules, written out independently of vigil/ledger/states.py
MOVES = {("open", "start"): "rectifying", ("rectifying", "submit"): "submitted", ("submitted", "reject"): "rectifying",
         ("submitted", "verify"): "verified", ("verified", "close"): "closed", ("verified", "reopen"): "open",
         ("closed", "reopen"): "open"}
RECTIFIERS = {"admin", "officer"}
VERIFIERS = {"admin", "supervisor", "reviewer"}
NEEDS_NOTE = {"reject", "reopen"}
EXAMPLES = int(os.environ.get("VIGIL_PROPERTY_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from fastapi.testclient import TestClient

    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    tmp = tmp_path_factory.mktemp("ledger-property")
    rt = Runtime(parse_config(service_config(tmp, None, cameras=[])), start_cameras=False)
    heads = {}
    for name, (role, scope) in ROLES.items():
        make_user(rt, name, role, **scope)
        heads[name] = bearer(rt, name)
    with TestClient(create_app(rt)) as client:
        yield rt, client, heads
    rt.stop()


STEPS = ["start", "submit", "reject", "verify", "close", "reopen"]


def able(step: str, inst: str, submitter: str | None) -> list[str]:
    """Users who may take `step` on a hazard of `inst` (steers the draw toward progress; illegal draws stay likely)."""
    roles = RECTIFIERS if step in ("start", "submit") else VERIFIERS
    return sorted(u for u, (role, _) in ROLES.items() if role in roles and inst in SEES[u]
                  and not (step == "verify" and u == submitter)) or sorted(ROLES)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow], print_blob=True)
@given(data=st.data(), n=st.integers(1, 40))
def test_random_steps_by_random_users_keep_the_rules(world, data, n):
    from vigil.api.db_ledger import HazardHistoryRow, HazardRow

    rt, client, heads = world
    ids = []
    for inst in ("fy", "et"):
        r = client.post("/api/hazards", json={"institution_id": inst, "category": "fire_equipment",
                                              "title": f"灭火器过期 {inst}"}, headers=heads["admin"])
        assert r.status_code == 201, r.text
        ids.append((r.json()["id"], inst))
    model = {hid: {"state": "open", "submitter": None} for hid, _ in ids}
    for _ in range(n):
        which = data.draw(st.integers(0, 1), label="hazard")
        hid, inst = ids[which]
        m = model[hid]
        legal_now = [b for (a, b) in MOVES if a == m["state"]]
        step = data.draw(st.one_of(st.sampled_from(legal_now), st.sampled_from(STEPS)), label="step")
        user = data.draw(st.one_of(st.sampled_from(able(step, inst, m["submitter"])), st.sampled_from(sorted(ROLES))),
                         label="user")
        with_note = data.draw(st.booleans(), label="note")
        body = {"step": step, **({"note": "随机测试"} if with_note else {})}
        r = client.post(f"/api/hazards/{hid}/steps", json=body, headers=heads[user])
        role = ROLES[user][0]
        if inst not in SEES[user]:
            assert r.status_code == 404, (user, step, r.status_code, r.text)  # nothing leaks outside the scope
            continue
        legal = (m["state"], step) in MOVES
        allowed = role in (RECTIFIERS if step in ("start", "submit") else VERIFIERS)
        four_eyes = step == "verify" and m["submitter"] == user
        noted = with_note or step not in NEEDS_NOTE
        ok = legal and allowed and not four_eyes and noted
        assert (r.status_code == 200) == ok, (user, role, m, step, with_note, r.status_code, r.text)
        if not legal:
            assert r.status_code == 409 and f"'{m['state']}'" in r.json()["detail"]
        elif not allowed or four_eyes:
            assert r.status_code == 403
        elif not noted:
            assert r.status_code == 422
        if ok:
            m["state"] = MOVES[(m["state"], step)]
            if step == "submit":
                m["submitter"] = user
            elif step in ("reopen",):
                m["submitter"] = None
        with rt.sessions() as s:
            assert s.scalar(select(HazardRow.state).where(HazardRow.id == hid)) == m["state"]
    with rt.sessions() as s:
        for hid, _ in ids:
            h = s.get(HazardRow, hid)
            assert h.state in ("open", "rectifying", "submitted", "verified", "closed")
            hist = s.scalars(select(HazardHistoryRow).where(HazardHistoryRow.hazard_id == hid)
                             .order_by(HazardHistoryRow.id)).all()
            if h.state == "closed":
                since_open = hist[max(i for i, x in enumerate(hist) if x.to_state == "open"):]
                verifies = [x for x in since_open if x.action == "verify"]
                submits = [x for x in since_open if x.action == "submit"]
                assert verifies and h.verified_at is not None and h.closed_at is not None
                assert verifies[-1].username != submits[-1].username  # four eyes
