"""Notifications: the scoped server-sent-events feed, dead letters (admins) and the delivery channels' state."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vigil import audit
from vigil.access import Principal
from vigil.api.deps import get_runtime, get_session
from vigil.api.errors import error_responses
from vigil.api.schemas import MAX_ID
from vigil.api.security import client_address, require, visible_institutions
from vigil.outbox import feed
from vigil.outbox.config import KINDS
from vigil.service import Runtime

router = APIRouter(tags=["notifications"])
DELIVERY_ID = r"^[A-Za-z0-9_-]{1,64}$"
CHANNEL = r"^(webhook:[A-Za-z0-9_-]{1,64}|mqtt)$"


class DeadLetterOut(BaseModel):
    id: int
    channel: str = Field(description="webhook:<name> or mqtt.")
    delivery_id: str
    kind: str
    institution_id: str | None
    event_id: int | None
    attempts: int = Field(description="Tries so far (the failed ones, plus any redelivery).")
    last_error: str | None = Field(description="Why the last try failed (no secret in it).")
    status: Literal["dead", "redeliver", "redelivered"] = Field(
        description="dead: given up; redeliver: an admin asked for one more try, the dispatcher makes it next; "
                    "redelivered: that try was delivered.")
    created_at: datetime
    updated_at: datetime
    redelivered_at: datetime | None
    requested_by: str | None
    notification_created_at: datetime


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int
    limit: int
    offset: int


class ChannelOut(BaseModel):
    name: str
    last_seq: int = Field(description="Published position delivered (or passed over) up to.")
    waiting: int = Field(description="Notifications not yet passed by this channel (unpublished ones included).")
    attempts: int = Field(description="Failed tries of the notification at its head.")
    next_attempt_at: datetime | None
    last_error: str | None
    delivered: int
    dead_letters: int = Field(description="Dead letters not yet redelivered.")
    last_delivered_at: datetime | None


# OpenAPI before 3.2 has an event stream's `schema` describe one event (as its fields read)
EVENT = {"type": "object", "required": ["data", "event"], "properties": {
    "event": {"type": "string", "enum": [*KINDS, "reset"], "description": "The notification's kind; reset: see below."},
    "id": {"type": "string", "pattern": DELIVERY_ID, "description": "The delivery id (Last-Event-ID on reconnect)."},
    "data": {"type": "string", "contentMediaType": "application/json", "description": "The JSON envelope."},
    "retry": {"type": "integer", "minimum": 0, "description": "Reconnection delay (ms) for the browser."}}}
SSE = {"content": {"text/event-stream": {"schema": EVENT}}, "description": (
    "Server-sent events: `id:` the delivery id, `event:` the kind, `data:` the JSON envelope (delivery_id, kind, "
    "created_at, institution_id, region, camera_id, event_id, data). `event: reset` when the position asked for "
    "is unknown (the client should reload its lists); `: keep-alive` comments while idle.")}


@router.get("/api/notifications/stream", response_class=StreamingResponse,
            responses={200: SSE, **error_responses(401, 403, 422)})
async def notification_stream(
    request: Request,
    once: bool = Query(False, description="Send what is there after the position and close (no waiting)."),
    after: str | None = Query(None, pattern=DELIVERY_ID, description=(
        "Start after this delivery id (as Last-Event-ID does; the header wins when both are given).")),
    last_event_id: str | None = Header(None, alias="Last-Event-ID", pattern=DELIVERY_ID, description=(
        "Sent by a reconnecting EventSource: resume after this delivery id.")),
    rt: Runtime = Depends(get_runtime), who: Principal = Depends(require("events.read")),
) -> StreamingResponse:
    """Notifications about the institutions in the caller's scope, each once, in the order they were published,
    from now (or after Last-Event-ID) until the client leaves or `notifications.stream_max_s` passes (the browser
    then reconnects with Last-Event-ID, and credentials and scope are checked again)."""
    cfg = rt.cfg.notifications
    resume = last_event_id or after

    def start() -> tuple[int, bool]:
        with rt.sessions() as s:
            seq = feed.seq_of(s, resume) if resume else None
            return (seq, False) if seq is not None else (feed.head_seq(s), resume is not None)

    def fetch(after_seq: int):
        with rt.sessions() as s:
            return feed.scoped_after(s, after_seq, visible_institutions(rt, who))

    position, reset = await run_in_threadpool(start)

    async def events():
        nonlocal position
        sub = rt.notify.hub.subscribe()
        deadline = time.monotonic() + cfg.stream_max_s
        try:
            yield "retry: 3000\n\n"
            if reset:
                yield 'event: reset\ndata: {"reason": "unknown Last-Event-ID: reload, then follow from here"}\n\n'
            while True:
                sub[1].clear()
                while True:
                    rows, reached = await run_in_threadpool(fetch, position)
                    for n in rows:
                        yield feed.sse_message(n)
                    if reached == position:
                        break
                    position = reached
                left = deadline - time.monotonic()
                if once or left <= 0:
                    return
                try:
                    await asyncio.wait_for(sub[1].wait(), min(cfg.keepalive_s, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            rt.notify.hub.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/api/notifications/deadletters", response_model=DeadLetterPage, responses=error_responses(401, 403, 422))
def dead_letters(
    status: Literal["dead", "redeliver", "redelivered"] | None = Query(None, description="Only this state."),
    channel: str | None = Query(None, pattern=CHANNEL, description="Only this channel (webhook:<name> or mqtt)."),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_ID),
    s=Depends(get_session), _: Principal = Depends(require("notifications.manage")),
) -> dict:
    """Notifications a channel gave up on after its attempts, newest first (admins)."""
    items, total = feed.dead_letters(s, status, channel, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/api/notifications/deadletters/{dead_id:int}/redeliver", status_code=202, response_model=DeadLetterOut,
             responses=error_responses(401, 403, 404, 409, 422, e404={"description": "No such dead letter"},
                                       e409={"description": "Redelivered already"}))
def redeliver(dead_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Dead letter id.", examples=[1])], request: Request,
              s=Depends(get_session), rt: Runtime = Depends(get_runtime),
              who: Principal = Depends(require("notifications.manage"))) -> dict:
    """Ask the dispatcher for one more try of a dead letter (202: it tries next; the dead letter's status then
    says how it went). Audited."""
    try:
        view = feed.request_redelivery(s, dead_id, who.username)
    except feed.RedeliverConflict as exc:
        raise HTTPException(409, str(exc)) from None
    if view is None:
        raise HTTPException(404, f"dead letter {dead_id} does not exist")
    audit.record(s, who, "notification.redeliver", client=client_address(request), object_type="dead_letter",
                 object_id=dead_id, institution_id=view["institution_id"],
                 after={"channel": view["channel"], "delivery_id": view["delivery_id"]})
    s.commit()
    rt.notify.wake()
    return view


@router.get("/api/notifications/channels", response_model=list[ChannelOut], responses=error_responses(401, 403))
def channels(s=Depends(get_session), rt: Runtime = Depends(get_runtime),
             _: Principal = Depends(require("notifications.manage"))) -> list[dict]:
    """The configured delivery channels (webhooks, MQTT): how far each is, what waits, the last error (admins)."""
    return feed.channel_views(s, rt.notify.channel_names)
