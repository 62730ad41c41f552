"""The review page in a real browser (Debian chromium via Playwright) against the real API."""
from __future__ import annotations

import pytest

from vigil_fixtures import LiveServer, seed_events, service_config

pytestmark = pytest.mark.browser


@pytest.fixture
def live_api(tmp_path):
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    rt = Runtime(parse_config(service_config(tmp_path)), start_cameras=False)
    ids = seed_events(rt)
    srv = LiveServer(create_app(rt))
    yield srv.url, rt, ids
    srv.stop()
    rt.stop()


def test_pending_events_shown_in_chinese_and_reviewed(browser, live_api, tmp_path):
    url, rt, ids = live_api
    page = browser.new_page(locale="zh-CN")
    page.on("dialog", lambda d: d.accept("现场核实：纸箱堵塞"))
    page.goto(f"{url}/ui/")
    cards = page.locator("li.event")
    cards.first.wait_for(timeout=10000)
    assert cards.count() == 5
    assert page.locator("h1").inner_text() == "远程视频安全监管"
    first = page.locator(f'li.event[data-event-id="{ids[0]}"]')
    assert "安全出口/通道堵塞" in first.inner_text() and "东侧安全出口" in first.inner_text()
    # the evidence image really loaded
    img = f'li.event[data-event-id="{ids[0]}"] img'
    page.wait_for_function(f"(() => {{ const i = document.querySelector('{img}'); return i && i.complete && i.naturalWidth > 0; }})()",
                           timeout=10000)
    assert first.locator("img").evaluate("img => img.naturalWidth") >= 320
    page.screenshot(path=str(tmp_path / "review.png"))
    first.locator('button[data-action="confirmed"]').click()
    page.wait_for_function(f'!document.querySelector(\'li.event[data-event-id="{ids[0]}"]\')', timeout=10000)
    assert page.locator("li.event").count() == 4
    ev = rt.store.sessions().get(__import__("vigil.api.db", fromlist=["EventRow"]).EventRow, ids[0])
    assert ev.review_status == "confirmed" and ev.review_note == "现场核实：纸箱堵塞"
    page.locator(f'li.event[data-event-id="{ids[1]}"] button[data-action="false_alarm"]').click()
    page.wait_for_function("document.querySelectorAll('li.event').length === 3", timeout=10000)
    # switch to English and to the confirmed list
    page.locator("#lang").click()
    assert page.locator("h1").inner_text() == "Remote video safety supervision"
    page.select_option("#status", "confirmed")
    page.wait_for_function("document.querySelectorAll('li.event').length === 1", timeout=10000)
    assert "Verdict: Confirmed" in page.locator("li.event").inner_text()
    page.close()
