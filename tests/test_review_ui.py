"""The review page in a real browser (Debian chromium via Playwright) against the real API."""
from __future__ import annotations

import pytest

from vigil_fixtures import PASSWORD, LiveServer, make_user, seed_events, service_config, ui_login

pytestmark = pytest.mark.browser


@pytest.fixture
def live_api(tmp_path):
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    rt = Runtime(parse_config(service_config(tmp_path)), start_cameras=False)
    ids = seed_events(rt)
    make_user(rt, "shenhe", "reviewer", regions=["示范县"])
    make_user(rt, "fy_officer", "officer", institutions=["fy"])
    srv = LiveServer(create_app(rt))
    yield srv.url, rt, ids
    srv.stop()
    rt.stop()


def test_pending_events_shown_in_chinese_and_reviewed(browser, live_api, tmp_path):
    url, rt, ids = live_api
    page = browser.new_page(locale="zh-CN")
    page.on("dialog", lambda d: d.accept("现场核实：纸箱堵塞"))
    page.goto(f"{url}/ui/")
    page.locator("#login").wait_for(timeout=10000)  # no session: the login form, no data
    assert page.locator("li.event").count() == 0
    page.fill("#username", "shenhe")
    page.fill("#password", "wrong-password-123")
    page.click("#login-submit")
    page.locator("#login-error").wait_for(timeout=10000)
    assert "401" in page.locator("#login-error").inner_text()
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
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
    assert ev.reviewer == "shenhe"  # the logged-in user, not a name the page typed
    page.select_option(f'select.reason[data-event-id="{ids[1]}"]', "allowed_object")
    page.locator(f'li.event[data-event-id="{ids[1]}"] button[data-action="false_alarm"]').click()
    page.wait_for_function("document.querySelectorAll('li.event').length === 3", timeout=10000)
    # switch to English and to the confirmed list
    page.locator("#lang").click()
    assert page.locator("h1").inner_text() == "Remote video safety supervision"
    # each list is waited for by its own event id: the previous list also has one item
    page.select_option("#status", "confirmed")
    page.locator(f'li.event[data-event-id="{ids[0]}"]').wait_for(timeout=10000)
    assert page.locator("li.event").count() == 1
    assert "Verdict: Confirmed" in page.locator("li.event").inner_text()
    page.select_option("#status", "false_alarm")
    page.locator(f'li.event[data-event-id="{ids[1]}"]').wait_for(timeout=10000)
    assert page.locator("li.event").count() == 1
    assert "allowed object" in page.locator("li.event").inner_text()
    page.locator("#logout").click()
    page.locator("#login").wait_for(timeout=10000)
    page.close()


def test_an_officer_sees_only_their_institution_and_cannot_review(browser, live_api):
    url, rt, ids = live_api
    page = browser.new_page(locale="zh-CN")
    ui_login(page, url, "fy_officer")
    page.locator("li.event").first.wait_for(timeout=10000)
    page.select_option("#status", "")
    page.wait_for_function("document.querySelectorAll('li.event').length === 3", timeout=10000)
    assert all("示范县福缘养老院" in c for c in page.locator("li.event").all_inner_texts())
    assert page.locator("button[data-action]").count() == page.locator('button[data-action="clip"]').count()
    assert page.locator(".cam").count() == 1  # the officer's one camera
    page.close()


def test_new_events_arrive_through_the_live_feed(browser, live_api):
    """The page listens to the scoped event feed (server-sent events): an event raised on the server shows up at
    once, well before the 30 s fallback poll; an event of an institution outside the officer's scope does not."""
    import time
    from datetime import datetime, timezone

    from vigil.vision.events import EventRecord

    url, rt, ids = live_api
    rt.notify.start()  # the dispatcher that publishes the outbox to the feed (the fixture starts no cameras)
    page = browser.new_page(locale="zh-CN")
    ui_login(page, url, "fy_officer")
    page.locator("#live[data-state='on']").wait_for(timeout=15000)
    assert page.locator("#live").inner_text() == "● 实时"
    page.locator("li.event").first.wait_for(timeout=10000)
    before = page.locator("li.event").count()
    other = EventRecord("ctrl", "值班区", "unattended_room", 100.0, datetime.now(timezone.utc), 0.9, {}, {})
    rt.store.started(other, None)  # the other institution's: not for this officer
    mine = EventRecord("exit1", "出口", "blocked_exit", 101.0, datetime.now(timezone.utc), 0.8, {}, {})
    t0 = time.monotonic()
    rt.store.started(mine, None)
    page.locator(f'li.event[data-event-id="{mine.id}"]').wait_for(timeout=10000)
    took = time.monotonic() - t0
    assert took < 10, took  # the fallback poll would take up to 30 s
    assert page.locator("li.event").count() == before + 1
    assert page.locator(f'li.event[data-event-id="{other.id}"]').count() == 0
    page.close()
