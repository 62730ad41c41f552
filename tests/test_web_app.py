"""The web app (review_ui/, built into review_ui/dist and served at /app/) in Debian chromium against the real API:
menus per role, the review queue by keyboard, a hand-entered hazard from open to closed by two users, language, phone width."""
from __future__ import annotations

import pytest

from vigil_fixtures import (LiveServer, build_web, make_user, seed_events, service_config, ultralytics_asset,
                            web_login as login, web_shot as shot)

pytestmark = pytest.mark.browser

MENUS = {
    "admin": ["审核队列", "隐患台账", "群众举报", "数据看板", "摄像机", "系统管理"],
    "jianguan": ["审核队列", "隐患台账", "群众举报", "数据看板", "摄像机"],
    "fy_officer": ["隐患台账", "数据看板", "摄像机"],
    "shenhe": ["审核队列", "隐患台账", "数据看板", "摄像机"],
    "chakan": ["隐患台账", "数据看板", "摄像机"],
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    build_web()
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    tmp = tmp_path_factory.mktemp("webapp")
    rt = Runtime(parse_config(service_config(tmp)), start_cameras=False)
    ids = seed_events(rt, n_exit=6, n_ctrl=4)
    make_user(rt, "admin", "admin")
    make_user(rt, "jianguan", "supervisor", regions=["示范县"])
    make_user(rt, "fy_officer", "officer", institutions=["fy"])
    make_user(rt, "shenhe", "reviewer", regions=["示范县"])
    make_user(rt, "chakan", "viewer", regions=["示范县"])
    rt.notify.start()  # the dispatcher that publishes the outbox to the SSE feed (no cameras run here)
    srv = LiveServer(create_app(rt))
    yield srv.url, rt, ids
    srv.stop()
    rt.stop()




def test_login_page_and_menus_per_role(browser, live):
    url, rt, _ = live
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{url}/app/")
    page.locator("#login-form").wait_for(timeout=15000)
    page.fill("#username", "shenhe")
    page.fill("#password", "wrong-password-123")
    page.click("#login-submit")
    page.locator("#login-error").wait_for(timeout=10000)
    assert "401" in page.locator("#login-error").inner_text()
    shot(page, "login")
    page.close()
    for user, menus in MENUS.items():
        context, page = login(browser, url, user)
        page.locator(".v-aside .el-menu-item").first.wait_for(timeout=10000)
        assert page.locator(".v-aside .el-menu-item").all_inner_texts() == menus, user
        page.click("#logout")
        page.locator("#login-form").wait_for(timeout=10000)
        context.close()


def test_ten_events_cleared_by_keyboard_with_live_counts(browser, live):
    url, rt, ids = live
    context, page = login(browser, url, "shenhe")
    page.goto(f"{url}/app/#/review")
    review = page.locator("#review")
    page.wait_for_function("document.querySelector('#review')?.dataset.remaining === '10'", timeout=15000)
    page.locator("#claimed, #held-by").first.wait_for(timeout=10000)  # the event shown is claimed
    assert page.locator("#claimed").is_visible(), page.locator("#held-by").inner_text()
    page.locator("#feed-state.el-tag--success").wait_for(timeout=15000)  # the SSE feed is connected
    page.wait_for_function("document.querySelector('#event-snapshot')?.naturalWidth > 0", timeout=10000)
    shot(page, "review")
    keys = []

    def press(k):
        keys.append(k)
        page.keyboard.press(k)

    press("j")
    press("k")
    plan = ["c", "c", ("f", "1"), "c", "o", ("f", "4"), "c", "c", ("f", "5"), "c"]
    for i, step in enumerate(plan):
        shown = review.get_attribute("data-current-id")
        for k in (step if isinstance(step, tuple) else (step,)):
            press(k)
        page.wait_for_function(
            f"(() => {{ const r = document.querySelector('#review'); return r.dataset.remaining === '{9 - i}' "
            f"&& r.dataset.busy === '0'; }})()", timeout=10000)
        assert review.get_attribute("data-current-id") != shown
    page.locator("#review-empty").wait_for(timeout=10000)
    page.wait_for_function("document.querySelector('#count-pending').innerText === '0'", timeout=10000)
    assert page.locator("#count-onsite").inner_text() == "1"
    print(f"\nten events cleared with {len(keys)} keystrokes: {' '.join(keys)}")
    assert len(keys) == 15
    from sqlalchemy import func, select
    from vigil.api.db import EventRow
    with rt.sessions() as s:
        by = dict(s.execute(select(EventRow.review_status, func.count()).group_by(EventRow.review_status)).all())
        reasons = sorted(r for r in s.scalars(select(EventRow.review_reason)) if r)
    assert by == {"confirmed": 6, "false_alarm": 3, "needs_onsite_check": 1}
    assert reasons == ["camera_fault", "misdetection", "other"]
    # a new event on the server reaches the open page through the feed (fallback polling is 30 s)
    import cv2
    from datetime import datetime, timezone
    from vigil.vision.annotate import encode_jpeg
    from vigil.vision.events import EventRecord
    ev = EventRecord("exit1", "出口", "fire_smoke", 0.0, datetime.now(timezone.utc), 0.8, {"min_frames": 3}, {})
    rt.store.started(ev, encode_jpeg(cv2.imread(str(ultralytics_asset("bus.jpg")))))
    page.wait_for_function("document.querySelector('#review')?.dataset.remaining === '1'", timeout=15000)
    page.wait_for_function("document.querySelector('#count-pending').innerText === '1'", timeout=10000)
    context.close()


def test_hand_entered_hazard_open_to_closed_by_two_users(browser, live):
    url, rt, _ = live
    context, page = login(browser, url, "fy_officer")
    page.goto(f"{url}/app/#/hazards")
    page.locator("#hazard-new").click()
    page.fill("#nh-title", "二楼配电箱线路老化")
    page.fill("#nh-location", "二楼东侧")
    page.locator("#nh-submit").click()
    detail = page.locator("#hazard-detail")
    detail.wait_for(timeout=10000)
    hid = detail.get_attribute("data-id")
    assert detail.get_attribute("data-state") == "open"
    assert page.locator("#hazard-steps [data-step]").evaluate_all("b => b.map(x => x.dataset.step)") == ["start"]

    def step(p, name, to):
        p.locator(f'#hazard-steps [data-step="{name}"]').click()
        p.locator("#step-ok").click()
        p.wait_for_function(f"document.querySelector('#hazard-detail')?.dataset.state === '{to}'", timeout=10000)

    step(page, "start", "rectifying")
    page.set_input_files("#photo-input", str(ultralytics_asset("bus.jpg")))
    page.wait_for_function("document.querySelector('#photo-after')?.naturalWidth > 0", timeout=10000)
    step(page, "submit", "submitted")
    assert page.locator("#hazard-steps [data-step]").count() == 0  # an officer cannot verify
    context.close()

    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/hazards/{hid}")
    page.locator("#hazard-detail").wait_for(timeout=10000)
    step(page, "verify", "verified")
    step(page, "close", "closed")
    page.wait_for_function("document.querySelectorAll('#hazard-history .el-timeline-item').length >= 5", timeout=10000)
    shot(page, "hazard-detail")
    page.goto(f"{url}/app/#/hazards")
    page.locator("#hazards .hazard-link").first.wait_for(timeout=10000)
    shot(page, "hazards")
    context.close()
    from vigil.api.db_ledger import HazardRow
    with rt.sessions() as s:
        h = s.get(HazardRow, int(hid))
        assert h.state == "closed" and h.verified_by == "jianguan"


def test_hazard_found_by_a_camera_shows_that_evidence_and_speaks_chinese(browser, live):
    """A hazard opened by a confirmed event (the keyboard test confirmed six) shows the event's evidence picture as
    its "when found" photo, its source and its history in words, not codes ('camera', 'opened' before)."""
    from sqlalchemy import select
    from vigil.api.db_ledger import HazardRow

    url, rt, _ = live
    with rt.sessions() as s:
        hid = s.scalar(select(HazardRow.id).where(HazardRow.source == "camera").order_by(HazardRow.id))
    assert hid is not None, "the keyboard test's confirmations opened no hazard"
    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/hazards/{hid}")
    page.locator("#hazard-detail").wait_for(timeout=10000)
    page.wait_for_function("document.querySelector('#photo-found')?.naturalWidth > 0", timeout=10000)
    cells = page.locator("#hazard-detail .el-descriptions__content").all_inner_texts()
    assert "摄像机" in [c.strip() for c in cells], cells
    assert page.locator("#hazard-history .el-timeline-item strong").first.inner_text() == "登记"
    assert "opened" not in page.locator("#hazard-history").inner_text()
    context.close()


def test_supervisor_assigns_supervises_and_comments_a_hazard(browser, live):
    """The county supervisor's own actions on a hazard, beside its state steps: name who fixes it and a new deadline,
    list it for supervision (挂牌督办), comment; each lands in the ledger and its history, in words."""
    from sqlalchemy import select
    from vigil.api.db_ledger import HazardHistoryRow, HazardRow

    url, rt, _ = live
    with rt.sessions() as s:
        h0 = s.scalars(select(HazardRow).where(HazardRow.source == "camera", HazardRow.state != "closed")
                       .order_by(HazardRow.id)).first()
        hid, deadline0 = h0.id, h0.deadline_at
    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/hazards/{hid}")
    page.locator("#hazard-detail").wait_for(timeout=10000)

    def act(button, fill):
        n = page.locator("#hazard-history .el-timeline-item").count()
        page.click(button)
        fill()
        page.click("#ha-ok")
        page.wait_for_function(f"document.querySelectorAll('#hazard-history .el-timeline-item').length === {n + 1}",
                               timeout=10000)

    def assign():
        page.fill("#ha-responsible", "张建国")
        page.fill("#ha-note", "院长负责，周五前整改")

    act("#ha-assign", assign)
    act("#ha-supervise", lambda: page.fill("#ha-note", "逾期风险高，县局挂牌"))
    assert page.locator("#ha-supervise").count() == 0  # listed: the button goes
    act("#ha-comment", lambda: page.fill("#ha-note", "已电话督促"))
    texts = page.locator("#hazard-history .el-timeline-item strong").all_inner_texts()
    assert texts[-3:] == ["指派责任人", "挂牌督办", "备注"], texts
    assert "已电话督促" in page.locator("#hazard-history").inner_text()
    assert "张建国" in page.locator("#hazard-detail .el-descriptions").inner_text()
    with rt.sessions() as s:
        h = s.get(HazardRow, hid)
        actions = s.scalars(select(HazardHistoryRow.action).where(HazardHistoryRow.hazard_id == hid)).all()
        assert (h.responsible, h.supervised, h.supervisor, h.deadline_at) == ("张建国", True, "jianguan", deadline0)
        assert actions[-3:] == ["assigned", "supervised", "comment"]
    context.close()


def public_status(link: str) -> int:
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(link, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_public_reports_from_the_form_to_a_hazard_or_dismissed(browser, live):
    """群众举报: the county supervisor makes a form link for one home; two complaints sent through that real public
    form reach the supervisor's list; one becomes a hazard (source: public report), the other is dismissed with a
    reason that the list then shows; the link, revoked, stops working."""
    from sqlalchemy import select
    from vigil.api.db_ledger import ComplaintRow, HazardRow

    url, rt, _ = live
    # the supervisor makes the form's link for one institution (shown once), for the notice board at its gate
    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/complaints")
    page.locator(".el-tabs__item", has_text="举报表单链接").click()
    page.click("#it-new")
    page.fill("#it-name", "大门公告栏")
    page.locator(".el-select__wrapper", has=page.locator("#it-institution")).click()
    page.locator(".el-select-dropdown__item:visible", has_text="示范县福缘养老院").click()
    page.click("#it-ok")
    form_url = page.locator("#it-url").get_attribute("href")
    assert form_url.startswith(f"{url}/intake/vgc_"), form_url
    page.locator("#intake-tokens .el-table__row", has_text="大门公告栏").wait_for(timeout=10000)
    assert form_url.split("/intake/")[1] not in page.locator("#intake-tokens .el-table").inner_text()  # never listed
    context.close()
    public = browser.new_context(locale="zh-CN")
    form = public.new_page()
    for text in ("二楼东侧安全出口堆放杂物，晚上锁门", "测试一下"):
        form.goto(form_url)
        form.fill("#text", text)
        form.fill("#contact", "13800000000")
        form.locator("button[type=submit], input[type=submit]").first.click()
        form.get_by_text("已提交，谢谢").wait_for(timeout=10000)
    public.close()

    context, page = login(browser, url, "jianguan")
    page.goto(f"{url}/app/#/complaints")
    page.wait_for_function("Number(document.querySelector('#complaints')?.dataset.total) >= 2", timeout=10000)
    rows = page.locator("#complaints .el-table__row")
    rows.filter(has_text="安全出口堆放杂物").first.click()
    page.locator("#complaint-detail").wait_for(timeout=10000)
    assert page.locator("#cp-contact").inner_text() == "联系方式：13800000000"
    page.fill("#cp-title", "二楼东侧安全出口堆放杂物")
    page.locator(".el-select__wrapper", has=page.locator("#cp-category")).click()
    page.locator(".el-select-dropdown__item:visible", has_text="安全出口/疏散通道堵塞").click()
    page.click("#cp-ok")
    page.locator("#hazard-detail").wait_for(timeout=10000)
    assert "群众举报" in page.locator("#hazard-detail .el-descriptions").inner_text()
    page.goto(f"{url}/app/#/complaints")
    page.locator("#complaints .el-table__row", has_text="测试一下").first.click()
    page.locator("#cp-action").get_by_text("不予受理").click()
    page.fill("#cp-reason", "测试信息，非隐患")
    page.click("#cp-ok")
    page.locator("#cp-status").get_by_text("不予受理").click()
    page.locator("#complaints .el-table__row", has_text="测试信息，非隐患").wait_for(timeout=10000)
    with rt.sessions() as s:
        done = {c.text: (c.status, c.hazard_id, c.reason) for c in s.scalars(select(ComplaintRow))}
        hazard = s.get(HazardRow, done["二楼东侧安全出口堆放杂物，晚上锁门"][1])
        assert (hazard.source, hazard.category, hazard.title) == ("complaint", "blocked_passage", "二楼东侧安全出口堆放杂物")
    assert done["测试一下"] == ("dismissed", None, "测试信息，非隐患")
    # revoked, the printed link stops working at once
    page.locator(".el-tabs__item", has_text="举报表单链接").click()
    page.locator("#intake-tokens .el-table__row", has_text="大门公告栏").locator(".it-revoke").click()
    page.locator(".el-message-box__btns .el-button--primary").click()
    page.locator("#intake-tokens .el-table__row", has_text="已作废").wait_for(timeout=10000)
    assert public_status(form_url) == 404
    context.close()


def test_dashboard_cameras_audit_and_language(browser, live):
    url, rt, _ = live
    context, page = login(browser, url, "admin")
    page.goto(f"{url}/app/#/dashboard")
    page.locator("#trend-chart canvas").wait_for(timeout=15000)
    page.locator("#drill-table .el-table__row").first.wait_for(timeout=10000)
    page.locator("#drill-table .el-table__row").first.click()  # county -> townships
    page.wait_for_function("document.querySelectorAll('#drill-path .el-breadcrumb__item').length === 2", timeout=10000)
    assert page.locator('#bulletin a[data-format="pdf"]').get_attribute("href").startswith("/api/reports/monthly?month=")
    shot(page, "dashboard")
    page.goto(f"{url}/app/#/cameras")
    page.wait_for_function("document.querySelectorAll('.cam-status').length === 2", timeout=10000)
    shot(page, "cameras")
    page.goto(f"{url}/app/#/admin/audit")
    page.wait_for_function("Number(document.querySelector('#audit')?.dataset.total) > 0", timeout=10000)
    shot(page, "audit")
    # English, remembered across a reload; Element Plus's own texts follow
    page.click("#lang")
    assert page.locator(".v-aside .el-menu-item").all_inner_texts() == [
        "Review queue", "Hazard ledger", "Public reports", "Dashboard", "Cameras", "Administration"]
    page.reload()
    page.locator(".v-aside .el-menu-item").first.wait_for(timeout=10000)
    assert page.locator("#page-title").inner_text() == "Administration"
    assert "Total" in page.locator(".el-pagination__total").inner_text()
    page.goto(f"{url}/app/#/hazards")
    page.locator("#hazards .hazard-link").first.wait_for(timeout=10000)
    shot(page, "hazards-en")
    page.click("#lang")
    assert page.locator("#page-title").inner_text() == "隐患台账"
    assert "共" in page.locator(".el-pagination__total").inner_text()
    context.close()


def test_dashboard_period_counts_the_services_days_and_the_header_speaks_chinese(browser, live):
    """The period picker counts the service's calendar days (server.timezone, Asia/Shanghai here) whatever the
    browser's zone (New York here): it shows the month the statistics chose, and a picked range goes to the API as
    the midnights of those days with the service's offset (the naive times it sent before were read as UTC, 8 hours
    off). The header names the scope in the page's language."""
    from datetime import timedelta
    from urllib.parse import parse_qs, urlparse
    from zoneinfo import ZoneInfo

    url, rt, _ = live
    assert rt.cfg.server.timezone == "Asia/Shanghai"
    now = rt.clock.now().astimezone(ZoneInfo("Asia/Shanghai"))
    first = now.date().replace(day=1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    context, page = login(browser, url, "jianguan", timezone_id="America/New_York")
    assert page.locator("#user-scope").inner_text().strip() == "辖区 示范县"
    page.goto(f"{url}/app/#/dashboard")
    ends = page.locator("#dashboard .el-range-input")
    page.wait_for_function("document.querySelectorAll('#dashboard .el-range-input')[1]?.value", timeout=15000)
    assert [ends.nth(0).input_value(), ends.nth(1).input_value()] == [first.isoformat(), last.isoformat()]

    def picked(req):
        q = parse_qs(urlparse(req.url).query)
        return urlparse(req.url).path == "/api/stats" and q.get("since", [""])[0].startswith("2026-11-01")

    with page.expect_request(picked, timeout=15000) as req:
        ends.nth(0).fill("2026-11-01")
        ends.nth(1).fill("2026-11-30")
        ends.nth(1).press("Enter")
    q = parse_qs(urlparse(req.value.url).query)
    assert (q["since"], q["until"]) == (["2026-11-01T00:00:00+08:00"], ["2026-12-01T00:00:00+08:00"])
    page.click("#lang")
    assert page.locator("#user-scope").inner_text().strip() == "region 示范县"
    assert page.locator("#dashboard .el-radio-button").all_inner_texts() == ["Day", "Week", "Month"]
    page.click("#lang")
    assert page.locator("#dashboard .el-radio-button").all_inner_texts() == ["日", "周", "月"]
    context.close()


def test_phone_width_hazard_detail_with_camera_input(browser, live):
    url, rt, _ = live
    context, page = login(browser, url, "fy_officer", viewport={"width": 390, "height": 844}, is_mobile=True,
                          has_touch=True)
    assert not page.locator(".v-aside").is_visible()  # the menu folds into the header
    page.goto(f"{url}/app/#/hazards")
    page.locator("#hazard-new").click()
    page.fill("#nh-title", "楼梯间堆放杂物")
    page.locator("#nh-submit").click()
    page.locator("#hazard-detail").wait_for(timeout=10000)
    inp = page.locator("#photo-input")
    assert inp.get_attribute("accept") == "image/*" and inp.get_attribute("capture") == "environment"
    assert page.evaluate("document.documentElement.scrollWidth") <= 392  # nothing wider than the phone
    shot(page, "hazard-detail-phone")
    context.close()
