"""The web app's admin section (系统管理: users and roles, API tokens, notification channels, audit log) in Debian
chromium against the real API: a user created through the form after the API refused two bad tries at the field,
that user's menus, a token's secret shown once and then revoked, the channels and dead letters of a configured
webhook, and a supervisor kept out of the section."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from vigil_fixtures import (LiveServer, build_web, make_user, service_config,
                            web_login as login, web_shot as shot)

pytestmark = pytest.mark.browser

SUPERVISOR_MENUS = ["审核队列", "隐患台账", "群众举报", "数据看板", "摄像机"]
NEW_PASSWORD = "Zhang-jg-2026!"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    build_web()
    from vigil.api.app import create_app
    from vigil.config import parse_config
    from vigil.service import Runtime

    tmp = tmp_path_factory.mktemp("webadmin")
    cfg = service_config(tmp)
    # a webhook nobody listens on (port 9: refused at once): one try, then a dead letter the page can redeliver
    cfg["notifications"] = {"poll_interval_s": 0.2, "webhooks": [{
        "name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "whsec-" + "k" * 26, "timeout_s": 0.5,
        "retry": {"initial_s": 0.1, "max_s": 0.2, "max_attempts": 1}}]}
    rt = Runtime(parse_config(cfg), start_cameras=False)
    make_user(rt, "admin", "admin")
    make_user(rt, "jianguan", "supervisor", regions=["示范县"])
    rt.notify.start()
    # a new channel starts after what is published when it first runs (no backlog): wait for that, then one
    # notification, which the refused webhook turns into a dead letter
    from vigil.api.db_outbox import OutboxChannelRow
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with rt.sessions() as s:
            if s.get(OutboxChannelRow, "webhook:ops") is not None:
                break
        time.sleep(0.05)
    rt.store.camera_status("ctrl", "online", "first frame of this run")
    srv = LiveServer(create_app(rt))
    yield srv.url, rt
    srv.stop()
    rt.stop()




def pick(page, select: str, option: str) -> None:
    """Open an Element Plus select and click the option whose text is exactly `option`."""
    page.locator(".el-select__wrapper", has=page.locator(select)).click()
    page.locator(".el-select-dropdown__item:visible", has_text=re.compile(f"^{re.escape(option)}$")).click()


def field_error(page, form: str, field: str) -> str:
    loc = page.locator(f'{form} .el-form-item[data-field="{field}"] .el-form-item__error')
    loc.wait_for(timeout=10000)
    return loc.inner_text().strip()


def call(url: str, path: str, token: str) -> int:
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_admin_creates_a_user_after_field_errors_and_the_user_sees_their_menus(browser, live):
    url, rt = live
    context, page = login(browser, url, "admin")
    page.goto(f"{url}/app/#/admin")
    page.wait_for_url(re.compile(r"#/admin/users$"), timeout=10000)  # the section opens on its first tab
    page.locator('#users-table .u-name[data-username="jianguan"]').wait_for(timeout=10000)
    assert page.locator(".v-admin-tabs .el-tabs__item").all_inner_texts() == ["用户与角色", "API 令牌", "通知通道", "审计日志"]
    assert page.locator("#page-title").inner_text() == "系统管理"

    page.click("#user-new")
    page.locator("#user-form").wait_for(timeout=5000)
    page.fill("#uf-username", "jianguan")  # taken
    page.fill("#uf-display", "张监管")
    pick(page, "#uf-role", "监管人员")
    pick(page, "#uf-regions", "示范县/城关镇")
    page.locator(".el-dialog__header").first.click()  # the multiple select's dropdown stays open until a click elsewhere
    page.fill("#uf-password", "short")
    page.fill("#uf-password2", "short")
    page.click("#uf-submit")
    # the API's 422 (password policy) at the password field
    assert field_error(page, "#user-form", "password") == "密码至少 10 个字符"
    page.fill("#uf-password", NEW_PASSWORD)
    page.fill("#uf-password2", NEW_PASSWORD)
    page.click("#uf-submit")
    # the API's 409 (name taken) at the username field
    assert field_error(page, "#user-form", "username") == "该用户名已存在"
    shot(page, "admin-user-form")
    page.fill("#uf-username", "zhang_jg")
    page.click("#uf-submit")
    page.locator('#users-table .u-name[data-username="zhang_jg"]').wait_for(timeout=10000)
    page.locator("#user-form").wait_for(state="hidden", timeout=5000)  # the dialog closed on success
    row = page.locator("#users-table .el-table__body-wrapper tr", has=page.locator('[data-username="zhang_jg"]'))
    assert "监管人员" in row.inner_text() and "示范县/城关镇" in row.inner_text() and "张监管" in row.inner_text()
    assert "argon2" not in page.content()  # no hash reaches the page
    shot(page, "admin-users")
    context.close()

    from vigil import accounts
    with rt.sessions() as s:
        user = accounts.get_user(s, "zhang_jg")
        assert (user.role, user.display_name) == ("supervisor", "张监管")
        assert sorted(accounts.user_scope(s, user).regions) == ["示范县/城关镇"]

    context, page = login(browser, url, "zhang_jg", NEW_PASSWORD)
    page.locator(".v-aside .el-menu-item").first.wait_for(timeout=10000)
    assert page.locator(".v-aside .el-menu-item").all_inner_texts() == SUPERVISOR_MENUS
    assert page.locator("#user-scope").inner_text().strip() != ""
    context.close()


def test_admin_edits_role_and_scope_resets_the_password_and_disables(browser, live):
    url, rt = live
    context, page = login(browser, url, "admin")
    page.goto(f"{url}/app/#/admin/users")
    row = page.locator("#users-table .el-table__body-wrapper tr", has=page.locator('[data-username="zhang_jg"]'))
    row.wait_for(timeout=10000)
    row.locator(".u-edit").click()
    page.locator("#user-form").wait_for(timeout=5000)
    assert page.locator("#uf-username").is_disabled()
    pick(page, "#uf-role", "查看人员")  # the region is kept; a viewer may have institutions too
    pick(page, "#uf-institutions", "示范县儿童福利院（示范县/河西乡）")
    page.locator(".el-dialog__header").first.click()
    page.click("#uf-submit")
    page.locator("#user-form").wait_for(state="hidden", timeout=5000)
    page.wait_for_function("[...document.querySelectorAll('#users-table tr')].some(r => r.innerText.includes('zhang_jg') "
                           "&& r.innerText.includes('查看人员') && r.innerText.includes('示范县儿童福利院'))", timeout=10000)
    row.locator(".u-passwd").click()
    page.locator("#password-form").wait_for(timeout=5000)
    page.fill("#pw-password", "tiny")
    page.fill("#pw-password2", "tiny")
    page.click("#pw-submit")
    assert field_error(page, "#password-form", "password") == "密码至少 10 个字符"
    page.fill("#pw-password", "Another-pw-2026")
    page.fill("#pw-password2", "Another-pw-2026")
    page.click("#pw-submit")
    page.locator("#password-form").wait_for(state="hidden", timeout=5000)
    row.locator(".u-toggle").click()
    page.locator(".el-message-box .el-button--primary").click()
    page.wait_for_function("[...document.querySelectorAll('#users-table tr')].some(r => r.innerText.includes('zhang_jg') "
                           "&& r.innerText.includes('已停用'))", timeout=10000)
    context.close()
    from vigil import accounts
    with rt.sessions() as s:
        user = accounts.get_user(s, "zhang_jg")
        scope = accounts.user_scope(s, user)
        assert (user.role, user.disabled) == ("viewer", True)
        assert (sorted(scope.regions), sorted(scope.institutions)) == (["示范县/城关镇"], ["et"])
        assert accounts.verify_login(s, "zhang_jg", "Another-pw-2026") is None  # disabled


def test_token_secret_shown_once_then_revoked(browser, live):
    url, rt = live
    context, page = login(browser, url, "admin")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.goto(f"{url}/app/#/admin/tokens")
    page.locator("#admin-tokens").wait_for(timeout=10000)
    page.click("#token-new")
    page.locator("#token-form").wait_for(timeout=5000)
    page.click("#tf-submit")  # nothing filled in: refused at the fields, nothing sent
    assert field_error(page, "#token-form", "name") == "必填"
    page.fill("#tf-name", "市级平台对接")
    pick(page, "#tf-user", "admin（管理员）")
    page.click("#tf-submit")
    dialog = page.locator("#token-secret-dialog")
    dialog.wait_for(timeout=10000)
    assert "只显示这一次" in dialog.inner_text()
    secret = page.locator("#token-secret").input_value()
    assert len(secret) >= 20
    page.click("#token-copy")
    page.wait_for_function("document.querySelector('.el-message--success') !== null", timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "admin-tokens")
    assert call(url, "/api/auth/me", secret) == 200  # the secret works
    page.click("#token-secret-done")
    dialog.wait_for(state="hidden", timeout=5000)
    page.wait_for_timeout(400)  # the dialog's closed hook drops the secret
    assert secret not in page.content()

    name = page.locator("#tokens-table .tok-name", has_text="市级平台对接")
    name.wait_for(timeout=10000)
    token_id = int(name.get_attribute("data-token-id"))
    assert name.get_attribute("data-state") == "active"
    page.click(f'#tokens-table .tok-revoke[data-token-id="{token_id}"]')
    page.locator(".v-confirm-revoke .el-button--primary").click()
    page.wait_for_function(
        f"document.querySelector('#tokens-table .tok-name[data-token-id=\"{token_id}\"]')?.dataset.state === 'revoked'",
        timeout=10000)
    context.close()

    from vigil.api.db_access import ApiTokenRow
    with rt.sessions() as s:
        assert s.get(ApiTokenRow, token_id).revoked_at is not None
    assert call(url, "/api/auth/me", secret) == 401


def test_notification_channels_and_dead_letter_redelivery(browser, live):
    url, rt = live
    from vigil.outbox import feed
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the fixture's notification was tried once and given up
        with rt.sessions() as s:
            if feed.dead_letters(s, "dead", None, 10, 0)[1]:
                break
        time.sleep(0.2)
    else:
        pytest.fail("no dead letter from the unreachable webhook")
    context, page = login(browser, url, "admin")
    page.goto(f"{url}/app/#/admin/notifications")
    page.locator('#channels-table .ch-name[data-channel="webhook:ops"]').wait_for(timeout=10000)
    assert "配置文件" in page.locator("#nf-config-hint").inner_text()
    row = page.locator("#channels-table .el-table__body-wrapper tr").first
    assert "异常" in row.inner_text()  # a dead letter open
    redeliver = page.locator("#deadletters-table .dl-redeliver").first
    redeliver.wait_for(timeout=10000)
    assert "webhook:ops" in page.locator("#deadletters-table .el-table__body-wrapper").inner_text()
    shot(page, "admin-notifications")
    redeliver.click()
    page.locator(".el-message-box .el-button--primary").click()
    page.wait_for_function("document.querySelector('.el-message--success') !== null", timeout=10000)
    context.close()
    with rt.sessions() as s:
        from sqlalchemy import func, select
        from vigil.api.db_access import AuditRow
        assert s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "notification.redeliver")) == 1


def test_supervisor_has_no_admin_section(browser, live):
    url, rt = live
    context, page = login(browser, url, "jianguan")
    page.locator(".v-aside .el-menu-item").first.wait_for(timeout=10000)
    assert page.locator(".v-aside .el-menu-item").all_inner_texts() == SUPERVISOR_MENUS
    for path in ("/admin", "/admin/users", "/admin/tokens", "/admin/audit"):
        page.goto(f"{url}/app/#{path}")
        page.wait_for_function("!location.hash.includes('/admin')", timeout=10000)
        page.locator(".v-aside .el-menu-item.is-active").wait_for(timeout=10000)
        assert page.locator("#admin").count() == 0, path
    context.close()
