"""The zone editor of the web app in Debian chromium against the real API and a running camera (a file source of
real street footage): draw a zone on the latest frame, give it a rule with parameters and a holiday period, save it
through the inventory API (the running pipeline gets it), move a corner, and see a bad rule refused at its field."""
from __future__ import annotations

import re

import pytest

from helpers import shared_path, wait_until
from vigil_fixtures import LiveServer, build_web, make_user, service_config, web_login as login, web_shot as shot

pytestmark = pytest.mark.browser
STREET_CROWD = ("data", "video", "street_crowd.mp4")


@pytest.fixture(scope="module")
def zones_live(tmp_path_factory):
    build_web()
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    tmp = tmp_path_factory.mktemp("webzones")
    cams = [{"id": "exit1", "name": "东侧安全出口", "url": str(shared_path(*STREET_CROWD)), "institution": "fy",
             "site_kind": "exit", "detect_fps": 0.5,
             "zones": [{"name": "出口", "polygon": [[0.6, 0.1], [0.95, 0.1], [0.95, 0.5], [0.6, 0.5]],
                        "rules": [{"type": "blocked_exit", "dwell_s": 60}]}]}]
    rt = Runtime(parse_config(service_config(tmp, cameras=cams)))
    make_user(rt, "jianguan", "supervisor", regions=["示范县"])
    make_user(rt, "fy_officer", "officer", institutions=["fy"])
    srv = LiveServer(create_app(rt))
    assert wait_until(lambda: rt.processors["exit1"].reader.last_frame is not None, 30)
    yield srv.url, rt
    srv.stop()
    rt.stop()


def _zone(rt, name):
    cam = next(c for c in rt.cfg.cameras if c.id == "exit1")
    return next((z for z in cam.zones if z.name == name), None)


def _pick(page, text: str) -> None:
    """Click an option of the Element Plus select that is open now (its dropdown is teleported to <body>)."""
    page.locator(".el-select-dropdown__item:visible", has_text=re.compile(f"^{re.escape(text)}$")).first.click()


def test_draw_save_move_and_a_refused_rule(browser, zones_live):
    url, rt = zones_live
    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/cameras/exit1/zones")
    page.locator("#ze-draw").wait_for(timeout=15000)
    # the latest frame of the camera is the background (640x360 street footage)
    page.wait_for_function("(() => { const i = document.querySelector('#ze-canvas img'); "
                           "return i && i.complete && i.naturalWidth === 640; })()", timeout=15000)
    assert page.locator(".ze-zone").count() == 1 and page.locator('.ze-zone[data-zone="出口"]').count() == 1
    # the help under each field is the configuration's description (in Chinese)
    assert "目标须持续停留此时长才产生事件" in page.locator('.ze-rule [data-field="dwell_s"]').inner_text()

    page.click("#ze-draw")
    box = page.locator("#ze-canvas svg").bounding_box()
    corners = [(0.1, 0.55), (0.4, 0.55), (0.4, 0.95), (0.1, 0.95)]
    for x, y in corners:
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.click("#ze-finish")
    assert page.locator(".ze-zone").count() == 2
    page.fill("#ze-zone-name", "西侧通道")
    page.click("#ze-add-rule .el-select__wrapper")
    _pick(page, "安全出口/通道堵塞")
    rule = page.locator('.ze-rule[data-type="blocked_exit"]')
    rule.wait_for(timeout=5000)
    dwell = rule.locator('[data-field="dwell_s"] input')
    dwell.fill("45")
    dwell.press("Tab")
    rule.locator(".ze-use-schedule").click()
    rule.get_by_role("button", name=re.compile("添加重点时段")).click()
    rule.locator(".ze-period input").first.fill("春节")
    page.click("#ze-save")
    page.locator(".el-message--success").wait_for(timeout=10000)
    zone = _zone(rt, "西侧通道")
    assert zone is not None, [z.name for z in rt.cfg.cameras[0].zones]
    for (x, y), (px, py) in zip(corners, zone.polygon):
        assert abs(x - px) < 0.01 and abs(y - py) < 0.01, zone.polygon
    r = zone.rules[0]
    assert r.type == "blocked_exit" and r.dwell_s == 45 and r.schedule.alert_periods[0].name == "春节"
    assert r.schedule.alert_periods[0].dwell_scale == 0.5
    # the running pipeline has the new zone from the next frame on
    assert wait_until(lambda: any(m.rule.zone_name == "西侧通道" for m in rt.processors["exit1"].pipeline.monitors), 10)
    shot(page, "zone-editor")

    # drag the first corner of the selected zone to the right
    handle = page.locator('.ze-zone[data-zone="西侧通道"] circle[data-point="0"]')
    handle.scroll_into_view_if_needed()
    box = page.locator("#ze-canvas svg").bounding_box()  # again: the form grew and the page may have scrolled
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"], steps=5)
    page.mouse.up()
    page.click("#ze-save")
    assert wait_until(lambda: abs(_zone(rt, "西侧通道").polygon[0][0] - 0.2) < 0.01, 10), _zone(rt, "西侧通道").polygon
    assert abs(_zone(rt, "西侧通道").polygon[0][1] - 0.5) < 0.01

    # a person is never an obstacle: the API refuses it, the error shows at the classes field, nothing is stored
    rule.locator('[data-field="classes"] .el-select__wrapper').click()
    _pick(page, "人员 (person)")  # class names in Chinese, the code beside
    page.keyboard.press("Escape")
    page.click("#ze-save")
    err = rule.locator('[data-field="classes"] .el-form-item__error')
    err.wait_for(timeout=10000)
    assert "'person' cannot be a blocking class" in err.inner_text()
    assert "person" not in _zone(rt, "西侧通道").rules[0].classes
    shot(page, "zone-editor-error")

    # a zone with no area is refused at the polygon
    page.click("#ze-reload")
    page.click("#ze-draw")
    for x in (0.5, 0.6, 0.7):
        page.mouse.click(box["x"] + x * box["width"], box["y"] + 0.3 * box["height"])
    page.click("#ze-finish")
    page.click("#ze-save")
    page.locator("#ze-polygon-error").wait_for(timeout=10000)
    assert "polygon has no area" in page.locator("#ze-polygon-error").inner_text()
    assert len(rt.cfg.cameras[0].zones) == 2
    context.close()


def test_the_editor_is_for_roles_that_may_edit(browser, zones_live):
    url, rt = zones_live
    context, page = login(browser, url, "fy_officer")  # reads the inventory, may not edit it
    page.goto(f"{url}/app/#/cameras/exit1/zones")
    page.wait_for_function("!location.hash.includes('/zones')", timeout=10000)
    assert page.locator("#zone-editor").count() == 0
    context.close()
