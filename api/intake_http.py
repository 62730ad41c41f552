"""What the public complaint intake needs besides its routes (api/routers/complaints.py): the zh-CN pages (the form,
the receipt, the error pages; no script, nothing loaded from elsewhere) and the reading of a JSON or form body within
a size bound."""
from __future__ import annotations

import html
import json
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from vigil.api.db_ledger import IntakeTokenRow
from vigil.ledger import complaints as cm
from vigil.service import Runtime

PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                           "base-uri 'none'; frame-ancestors 'none'"}
_STYLE = ("body{font:16px/1.6 system-ui,'Noto Sans CJK SC',sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}"
          "main{max-width:36rem;margin:0 auto;padding:1rem 1.25rem 3rem;background:#fff;min-height:100vh}"
          "label{display:block;font-weight:600;margin-top:1rem}select,textarea,input{width:100%;box-sizing:border-box;"
          "font:inherit;padding:.5rem;border:1px solid #8a939c;border-radius:4px}button{margin-top:1.5rem;padding:"
          ".6rem 2rem;font:inherit;font-weight:600;background:#0b5cad;color:#fff;border:0;border-radius:4px}"
          ".hint{color:#4a535c;font-size:.9rem;margin:.25rem 0 0}:focus{outline:3px solid #f0a000;outline-offset:1px}")


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
           f'content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
           f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>")
    return HTMLResponse(doc, status_code=status, headers=PAGE_HEADERS)


def not_found_page() -> HTMLResponse:
    return page("链接无效", "<h1>链接无效</h1><p>此反映表单的链接无效或已停用。请向张贴此链接的单位索取新的链接，"
                          "或拨打当地民政部门电话反映。</p>", 404)


def form_page(rt: Runtime, t: IntakeTokenRow, token: str) -> HTMLResponse:
    regions = rt.regions_by_institution()
    ids = cm.covered_institutions(t, regions)
    esc = html.escape
    where = rt.institutions[ids[0]].name if t.kind == "institution" and ids else t.value
    head = f"<h1>安全隐患反映</h1><p>{esc(where)}：如发现消防通道堵塞、电动车进楼、明火、消防设施损坏等安全隐患，请在此反映。</p>"
    if not ids:
        return page("安全隐患反映", head + "<p>此表单目前没有可反映的机构。</p>")
    limits = rt.cfg.hazards
    options = "".join(f'<option value="{esc(i)}">{esc(rt.institutions[i].name)}</option>'
                      for i in sorted(ids, key=lambda i: rt.institutions[i].name))
    picker = (f'<label for="institution_id">机构</label><select id="institution_id" name="institution_id" required>'
              f"{options}</select>")
    body = head + (
        '<form method="post" action="../api/intake/complaints" enctype="multipart/form-data" accept-charset="utf-8">'
        f'<input type="hidden" name="token" value="{esc(token)}"><input type="hidden" name="reply" value="html">'
        f"{picker}"
        f'<label for="text">反映内容（必填）</label><textarea id="text" name="text" rows="8" required '
        f'maxlength="{limits.complaints.max_text}" aria-describedby="text-hint"></textarea>'
        f'<p class="hint" id="text-hint">请写明隐患的位置和情况，最多 {limits.complaints.max_text} 字。</p>'
        '<label for="contact">联系方式（选填）</label><input id="contact" name="contact" maxlength="120" '
        'autocomplete="tel" aria-describedby="contact-hint"><p class="hint" id="contact-hint">仅供民政部门核实情况，'
        "不会告知被反映的机构。</p>"
        '<label for="photo">照片（选填）</label><input type="file" id="photo" name="photo" '
        'accept="image/jpeg,image/png,image/webp" aria-describedby="photo-hint">'
        f'<p class="hint" id="photo-hint">JPEG、PNG 或 WebP，不超过 {limits.uploads.max_bytes / 1e6:g} MB。</p>'
        '<button type="submit">提交</button></form>')
    return page("安全隐患反映", body)


_ZH = {400: "提交的内容无法读取", 404: "链接无效或已停用，或所选机构不在此表单范围内", 413: "照片太大",
       415: "提交方式不受支持", 422: "填写的内容有误", 429: "提交过于频繁"}


def html_error(code: int, detail: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    wait = f"请 {int(headers['Retry-After']) // 60 + 1} 分钟后再试。" if headers and "Retry-After" in headers else ""
    out = page("未能提交", f"<h1>未能提交：{_ZH.get(code, '请稍后再试')}</h1><p>{wait}请使用浏览器的“返回”按钮修改后"
                          f"重新提交。</p><p class=\"hint\">{html.escape(detail)}</p>", code)
    out.headers.update(headers or {})
    return out


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"the request is {length} bytes; at most {limit} are accepted")
    data, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise HTTPException(413, f"the request is over {limit} bytes")
        data.append(chunk)
    return b"".join(data)


async def parse_body(request: Request, limit: int) -> tuple[dict[str, Any], bytes | None, str]:
    """(fields, photo bytes, via) from a JSON or form body; HTTPException / RequestValidationError otherwise."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "send application/json or multipart/form-data")
    raw = await read_body(request, limit)
    if ctype == "application/json":
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(fields, dict):
            raise RequestValidationError([{"loc": ("body",), "msg": "Input should be an object", "type": "dict_type"}])
        return fields, None, "api"

    async def replay() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10, max_part_size=256 * 1024)
    except Exception:  # malformed multipart, too many parts, a part too large
        raise HTTPException(400, "the form body could not be read (malformed, or too many or too large parts)") from None
    fields: dict[str, Any] = {}
    photo = None
    errors = []
    for key, value in form.multi_items():
        if key in fields or (key == "photo" and photo is not None):
            errors.append({"loc": ("body", key), "msg": "Given more than once", "type": "duplicate"})
        elif key == "photo":
            if isinstance(value, UploadFile):
                photo = await value.read(limit + 1) or None
            elif value:
                errors.append({"loc": ("body", "photo"), "msg": "Expected a file", "type": "file_type"})
        elif isinstance(value, UploadFile):
            errors.append({"loc": ("body", key), "msg": "Expected text, not a file", "type": "string_type"})
        else:
            fields[key] = value
    await form.close()
    if errors:
        raise RequestValidationError(errors)
    if fields.get("contact") == "":
        fields.pop("contact")
    return fields, photo, "form" if fields.get("reply") == "html" else "api"
