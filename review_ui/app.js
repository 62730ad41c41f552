// vigil review page: pending events with evidence, confirm / false alarm. zh-CN first, English second.
"use strict";
const I18N = {
  "zh-CN": {
    title: "远程视频安全监管", filter_status: "状态", pending: "待审核", confirmed: "已确认", false_alarm: "误报",
    all: "全部", events: "事件", no_events: "暂无事件", confirm: "确认隐患", dismiss: "误报", camera: "摄像机",
    zone: "区域", time: "时间", confidence: "置信度", open: "持续中", closed: "已结束", note_prompt: "备注（可选）",
    total: (n) => `共 ${n} 条`, reviewed_as: "审核结果", lang_other: "English", load_error: "加载失败：",
    live_on: "● 实时", live_off: "○ 实时连接中断，每 30 秒刷新",
    clip: "▶ 录像", clip_status: { recording: "录像中…", failed: "录像失败", pruned: "录像已过期清理" },
    rules: { blocked_exit: "安全出口/通道堵塞", unattended_room: "消防控制室脱岗", ebike_indoor: "电动车违规入室",
             fire_smoke: "烟火", camera_offline: "摄像机离线" },
    status: { online: "在线", offline: "离线", connecting: "连接中", stalled: "卡顿", stopped: "已停止", disabled: "已停用" },
    needs_onsite_check: "待现场核查", onsite: "现场核查", login_title: "登录", username: "用户名", password: "密码",
    login: "登录", logout: "退出", login_failed: "登录失败：",
    reasons: { misdetection: "误检", allowed_object: "允许放置的物品", drill_or_test: "演练或测试", camera_fault: "摄像机故障", other: "其他" },
  },
  en: {
    title: "Remote video safety supervision", filter_status: "Status", pending: "Pending", confirmed: "Confirmed",
    false_alarm: "False alarm", all: "All", events: "Events", no_events: "No events", confirm: "Confirm hazard",
    dismiss: "False alarm", camera: "Camera", zone: "Zone", time: "Time", confidence: "Confidence", open: "ongoing",
    closed: "ended", note_prompt: "Note (optional)", total: (n) => `${n} total`, reviewed_as: "Verdict",
    lang_other: "中文", load_error: "Load failed: ", live_on: "● live", live_off: "○ live feed down, refreshing every 30 s",
    clip: "▶ Clip", clip_status: { recording: "recording clip…", failed: "clip failed", pruned: "clip pruned (retention)" },
    rules: { blocked_exit: "Blocked exit / passage", unattended_room: "Control room unattended", ebike_indoor: "E-bike indoors",
             fire_smoke: "Fire / smoke", camera_offline: "Camera offline" },
    status: { online: "online", offline: "offline", connecting: "connecting", stalled: "stalled", stopped: "stopped", disabled: "disabled" },
    needs_onsite_check: "Needs on-site check", onsite: "On-site check", login_title: "Log in", username: "User name",
    password: "Password", login: "Log in", logout: "Log out", login_failed: "Login failed: ",
    reasons: { misdetection: "misdetection", allowed_object: "allowed object", drill_or_test: "drill or test", camera_fault: "camera fault", other: "other" },
  },
};
let lang = localStorage.getItem("vigil.lang") || "zh-CN";
const t = (k) => I18N[lang][k];
const $ = (s) => document.querySelector(s);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

function applyLang() {
  document.documentElement.lang = lang;
  document.title = `vigil · ${t("title")}`;
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  $("#lang").textContent = t("lang_other");
  if ($("#live").dataset.state) setLive($("#live").dataset.state === "on");
}

async function api(path, opts) {
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  if (r.status === 401 && !path.startsWith("/api/auth/")) { showLogin(); throw new Error(`${r.status}`); }
  if (r.status === 204) return null;
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).detail || msg; } catch (_) { /* not JSON */ }
    throw new Error(`${r.status} ${msg}`);
  }
  return r.json();
}

// Replaces the card's picture by the evidence clip; refreshes are held while a clip is open.
function playClip(ev, card) {
  const video = el("video", { src: ev.clip_url, controls: "", autoplay: "", muted: "", playsinline: "", class: "clip" });
  card.querySelector("img, .noimg").replaceWith(video);
}

function clipControl(ev) {
  if (ev.clip_url) {
    return el("button", { class: "play", "data-action": "clip",
      onclick: (e) => { playClip(ev, e.target.closest("li")); e.target.remove(); } }, t("clip"));
  }
  return ev.clip_status ? el("span", { class: "muted clipstate" }, t("clip_status")[ev.clip_status] || ev.clip_status) : "";
}

let me = null;
const canReview = () => me && me.permissions.includes("events.review");

function reasonSelect(id) {
  return el("select", { class: "reason", "data-event-id": id, "aria-label": "reason" },
    ...Object.entries(t("reasons")).map(([k, v]) => el("option", { value: k }, v)));
}

function eventCard(ev) {
  const open = ev.review_status === "pending" || ev.review_status === "needs_onsite_check";
  const actions = open && canReview()
    ? el("div", { class: "actions" },
        el("button", { class: "confirm", "data-action": "confirmed", onclick: () => review(ev.id, "confirmed") }, t("confirm")),
        el("button", { class: "dismiss", "data-action": "false_alarm", onclick: () => review(ev.id, "false_alarm") }, t("dismiss")),
        reasonSelect(ev.id),
        ev.review_status === "pending"
          ? el("button", { class: "onsite", "data-action": "needs_onsite_check", onclick: () => review(ev.id, "needs_onsite_check") }, t("onsite"))
          : "")
    : el("div", { class: "actions muted" }, `${t("reviewed_as")}: ${t(ev.review_status)}` +
        `${ev.review_reason ? " · " + (t("reasons")[ev.review_reason] || ev.review_reason) : ""}` +
        `${ev.reviewer ? " · " + ev.reviewer : ""}${ev.review_note ? " · " + ev.review_note : ""}`);
  return el("li", { class: "event", "data-event-id": ev.id, "data-rule": ev.rule },
    ev.snapshot_url ? el("img", { src: ev.snapshot_url, alt: ev.rule, loading: "lazy" }) : el("div", { class: "noimg" }),
    el("div", { class: "body" },
      el("div", { class: "rule" }, t("rules")[ev.rule] || ev.rule,
        el("span", { class: `badge ${ev.state}` }, t(ev.state))),
      el("div", { class: "meta" },
        `${t("camera")}: ${ev.camera_name || ev.camera_id}`, el("br"),
        ev.zone ? `${t("zone")}: ${ev.zone}` : "", ev.zone ? el("br") : "",
        `${t("time")}: ${fmtTime(ev.started_at)}${ev.ended_at ? " – " + fmtTime(ev.ended_at) : ""}`, el("br"),
        `${t("confidence")}: ${(ev.peak_confidence * 100).toFixed(0)}%`, el("br"),
        ev.institution_name || "", ...(ev.clip_url || ev.clip_status ? [el("br"), clipControl(ev)] : []))),
    actions);
}

async function loadEvents(force = false) {
  if (!force && document.querySelector("video.clip")) return;  // do not cut a clip being watched
  const status = $("#status").value;
  const q = new URLSearchParams({ limit: "60" });
  if (status) q.set("status", status);
  try {
    const page = await api(`/api/events?${q}`);
    if ($("#status").value !== status) return;  // a later filter's answer wins, not a slower earlier one
    $("#events").replaceChildren(...page.items.map(eventCard));
    $("#total").textContent = t("total")(page.total);
    $("#empty").hidden = page.items.length > 0;
    $("#error").hidden = true;
  } catch (e) {
    $("#error").textContent = t("load_error") + e.message;
    $("#error").hidden = false;
  }
}

async function loadCameras() {
  try {
    const cams = await api("/api/cameras");
    $("#cameras").replaceChildren(...cams.map((c) => el("div", { class: "cam", "data-camera-id": c.id },
      el("img", { src: `/api/cameras/${encodeURIComponent(c.id)}/snapshot.jpg?ts=${Date.now()}`, alt: c.name,
                  onerror: (e) => { e.target.style.visibility = "hidden"; } }),
      el("div", {}, el("span", { class: `dot ${c.status}` }), `${c.name} · ${t("status")[c.status] || c.status}`),
      el("div", { class: "muted" }, `${c.fps.toFixed(1)} fps · ${c.institution_name}`))));
  } catch (_) { /* camera strip is best effort; events show the error */ }
}

async function review(id, verdict) {
  const note = window.prompt(t("note_prompt"), "") ?? null;
  const body = { verdict, note: note || null };
  if (verdict === "false_alarm") body.reason = document.querySelector(`select.reason[data-event-id="${id}"]`).value;
  try {
    await api(`/api/events/${id}/review`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
  } catch (e) {
    $("#error").textContent = e.message;
    $("#error").hidden = false;
  }
  await loadEvents(true);
}

// the scoped event feed (GET /api/notifications/stream, server-sent events): a notification about an event in the
// caller's scope reloads the list at once; the browser reconnects by itself (Last-Event-ID) when a stream ends.
// Polling every 30 s stays as the fallback.
let feed = null, feedTimer = null;
const FEED_KINDS = ["event.opened", "event.updated", "event.ended", "event.reviewed"];

function setLive(on) {
  $("#live").textContent = t(on ? "live_on" : "live_off");
  $("#live").dataset.state = on ? "on" : "off";
}

function openFeed() {
  closeFeed();
  feed = new EventSource("/api/notifications/stream");
  feed.onopen = () => setLive(true);
  feed.onerror = () => setLive(false);
  const changed = () => { clearTimeout(feedTimer); feedTimer = setTimeout(() => { if (me) loadEvents(); }, 300); };
  FEED_KINDS.forEach((k) => feed.addEventListener(k, changed));
}

function closeFeed() {
  if (feed) { feed.close(); feed = null; }
}

function showLogin() {
  me = null;
  closeFeed();
  $("#login").hidden = false; $("#app").hidden = true; $("#cameras").hidden = true; $("#logout").hidden = true;
  $("#who").textContent = "";
}

async function start() {
  try { me = await api("/api/auth/me"); } catch (_) { showLogin(); return; }
  $("#login").hidden = true; $("#app").hidden = false; $("#cameras").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = `${me.display_name || me.username} · ${me.scope}`;
  loadEvents(true); loadCameras(); openFeed();
}

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value, password: $("#password").value }) });
    $("#password").value = ""; $("#login-error").hidden = true;
    await start();
  } catch (err) {
    $("#login-error").textContent = t("login_failed") + err.message; $("#login-error").hidden = false;
  }
});
$("#logout").addEventListener("click", async () => {
  try { await api("/api/auth/logout", { method: "POST" }); } catch (_) { /* the session may be gone already */ }
  showLogin();
});
$("#lang").addEventListener("click", () => {
  lang = lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("vigil.lang", lang);
  applyLang(); if (me) { loadEvents(true); loadCameras(); }
});
$("#status").addEventListener("change", () => loadEvents(true));
applyLang();
start();
setInterval(() => { if (me) loadEvents(); }, 30000);  // the fallback: the feed reloads at once
setInterval(() => { if (me) loadCameras(); }, 3000);
