"""Live viewing: the camera's own H.264 relayed to browsers over WebRTC (aiortc), without decoding or re-encoding.

One `LiveRelay` per running service. Per camera, the first viewer opens the camera's RTSP stream with
`MediaPlayer(url, format="rtsp", options={"rtsp_transport": "tcp"}, decode=False)`: the demuxed H.264 packets go
as they are into RTP (aiortc's H264Encoder.pack only splits NAL units). A `MediaRelay` shares that one pull among
all viewers of the camera; it is closed `idle_close_s` after the last viewer leaves. Each viewer is one
`RTCPeerConnection`: an SDP offer in, an SDP answer out (`session_id` to hang up).

Everything aiortc runs on the relay's own event loop, in one thread ("live-relay"), whatever loop or thread the
caller is on (uvicorn's loop, a TestClient portal): `open_session`, `hang_up` are awaitable from any loop,
`close_camera`, `close_all` are plain calls.

ICE host candidates and the offer check live in vigil/live_webrtc.py; the refusals (`LiveError` and its kinds,
each with its HTTP status) in vigil/live_errors.py. No STUN server is asked unless `live.stun_servers` names one.

Not decoded, so a new viewer sees a picture from the camera's next key frame (its GOP); a browser's PLI cannot
force one. Browsers play H.264 Constrained Baseline, Baseline, Main and High (8-bit 4:2:0) with
packetization-mode=1, which is what aiortc answers; a camera sending anything else (H.265, High 10, 4:2:2) is
refused with 409 and the MJPEG fallback (`GET .../live.mjpeg`, the reader's decoded frames) is the way to watch it.
No FastAPI here: api/routers/live.py is the thin HTTP side.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from vigil.live_config import LiveConfig
from vigil.live_errors import BadOffer, LiveError, NotRelayable, SourceFailed, ViewerCap
from vigil.live_webrtc import ice_configuration, offer_has_h264, restrict_ice_hosts

log = logging.getLogger("vigil.live")


class _RedactSourceUrls(logging.Filter):
    """aiortc's MediaPlayer names its source in its own log lines ("MediaPlayer(rtsp://user:password@...) Skipping
    video packet with no pts"): the camera URL's password is replaced by *** before any handler sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "@" in a for a in record.args):
            from vigil.config import redact_url

            record.args = tuple(redact_url(a) if isinstance(a, str) and "://" in a else a for a in record.args)
        return True


logging.getLogger("aiortc.contrib.media").addFilter(_RedactSourceUrls())

PLAYABLE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})


@dataclass
class _Source:
    camera_id: str
    url: str
    player: Any
    relay: Any
    info: dict
    viewers: set[str] = field(default_factory=set)
    close_handle: asyncio.TimerHandle | None = None


@dataclass
class _Session:
    id: str
    camera_id: str
    user_id: int | None
    client: str | None
    started: float
    pc: Any = None
    track: Any = None
    connected: bool = False
    timers: list = field(default_factory=list)


class LiveRelay:
    def __init__(self, cfg: LiveConfig | None = None):
        self.cfg = cfg or LiveConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._opening: dict[str, asyncio.Future] = {}
        self._sessions: dict[str, _Session] = {}
        self._mjpeg_lock = threading.Lock()
        self.mjpeg_streams = 0
        self.players_opened = 0  # MediaPlayers ever opened (tests: two viewers, one pull)
        self.closed = False

    # -- loop plumbing -----------------------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self.closed:
                raise LiveError("the service is stopping")
            if self._loop is None:
                restrict_ice_hosts(self.cfg.ice_host_addresses)
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.call_soon(lambda: loop.create_task(self._housekeeping()))
                    loop.run_forever()
                    loop.close()

                self._thread = threading.Thread(target=run, name="live-relay", daemon=True)
                self._thread.start()
                ready.wait(5)
                self._loop = loop
            return self._loop

    def _submit(self, coro) -> concurrent.futures.Future:
        try:
            loop = self._ensure_loop()
        except Exception:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    # -- public API ------------------------------------------------------------------------------------------------
    async def open_session(self, camera_id: str, url: str, sdp: str, kind: str, *, user_id: int | None = None,
                           client: str | None = None) -> dict:
        """Answer a viewer's offer: {"sdp", "type": "answer", "session_id", "video"}; LiveError when refused."""
        return await asyncio.wrap_future(self._submit(self._open_session(camera_id, url, sdp, kind, user_id, client)))

    async def hang_up(self, camera_id: str, session_id: str, user_id: int | None = None, any_user: bool = False) -> bool:
        """Close a viewer's session; False when it does not exist (or is another user's, unless `any_user`)."""
        if self._loop is None:
            return False
        return await asyncio.wrap_future(self._submit(self._hang_up(camera_id, session_id, user_id, any_user)))

    def close_camera(self, camera_id: str) -> None:
        """The camera stopped or changed its stream: close its viewers and its pull (does not wait)."""
        if self._loop is not None and not self.closed:
            self._submit(self._close_camera(camera_id, "camera stopped"))

    def close_all(self, timeout: float = 10) -> None:
        """Service stop: every session and pull closed, the relay's thread ended."""
        with self._start_lock:
            self.closed = True
            loop = self._loop
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_everything(), loop).result(timeout)
        except Exception:  # noqa: BLE001 - stopping anyway
            log.warning("live relay: closing took too long", exc_info=True)
        def stop() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.call_soon(loop.stop)

        loop.call_soon_threadsafe(stop)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._start_lock:  # a Runtime started again gets a fresh loop on first use
            self._loop, self._thread, self.closed = None, None, False
            self._sources.clear()
            self._sessions.clear()

    def stats(self) -> dict:
        return {"webrtc_sessions": len(self._sessions), "mjpeg_streams": self.mjpeg_streams,
                "pulls": sorted(self._sources), "players_opened": self.players_opened}

    def sessions_of(self, camera_id: str) -> list[str]:
        return [s.id for s in list(self._sessions.values()) if s.camera_id == camera_id]

    # MJPEG streams count against the total cap too (each costs a JPEG encode per frame)
    def mjpeg_enter(self) -> None:
        with self._mjpeg_lock:
            if self.mjpeg_streams + len(self._sessions) >= self.cfg.max_viewers:
                raise ViewerCap(f"live viewer limit reached ({self.cfg.max_viewers} in total); try again later")
            self.mjpeg_streams += 1

    def mjpeg_leave(self) -> None:
        with self._mjpeg_lock:
            self.mjpeg_streams = max(0, self.mjpeg_streams - 1)

    # -- on the relay loop -----------------------------------------------------------------------------------------
    async def _open_session(self, camera_id, url, sdp, kind, user_id, client) -> dict:
        from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        if kind != "offer":
            raise BadOffer("type must be 'offer'")
        if not url.lower().startswith(("rtsp://", "rtsps://")):
            raise NotRelayable(f"camera '{camera_id}' is not an RTSP camera, so there is no H.264 to relay; "
                               f"use GET /api/cameras/{camera_id}/live.mjpeg")
        if not offer_has_h264(sdp):
            raise BadOffer("the offer has no H.264 video (m=video with H264/90000); "
                           f"use GET /api/cameras/{camera_id}/live.mjpeg")
        cfg = self.cfg
        if len(self._sessions) + self.mjpeg_streams >= cfg.max_viewers:
            raise ViewerCap(f"live viewer limit reached ({cfg.max_viewers} in total); try again later")
        if len(self.sessions_of(camera_id)) >= cfg.max_viewers_per_camera:
            raise ViewerCap(f"camera '{camera_id}' has {cfg.max_viewers_per_camera} live viewers already (the limit); "
                            "try again later")
        sess = _Session(secrets.token_urlsafe(16), camera_id, user_id, client, time.monotonic())
        self._sessions[sess.id] = sess  # holds the slot from here on (one loop: no race between check and hold)
        try:
            src = await self._source(camera_id, url)
            src.viewers.add(sess.id)
            if src.close_handle is not None:
                src.close_handle.cancel()
                src.close_handle = None
            pc = sess.pc = RTCPeerConnection(ice_configuration(cfg.stun_servers))

            @pc.on("connectionstatechange")
            async def _state() -> None:
                if pc.connectionState == "connected":
                    sess.connected = True
                elif pc.connectionState in ("failed", "closed"):
                    await self._close_session(sess.id, f"connection {pc.connectionState}")

            # the sending transceiver exists before the offer is applied, so that its codec preference (H.264 only:
            # the packets are the camera's) is what setRemoteDescription negotiates; the offer's video m-line takes it
            sess.track = src.relay.subscribe(src.player.video)
            pc.addTrack(sess.track)
            h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/h264"]
            for t in pc.getTransceivers():
                if t.kind == "video":
                    t.setCodecPreferences(h264)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as exc:  # aiortc names what it did not take (no common codec: OperationError)
                raise BadOffer(f"the offer was not accepted ({type(exc).__name__}: {exc}); "
                               f"use GET /api/cameras/{camera_id}/live.mjpeg"[:400]) from None
            answer = await pc.createAnswer()
            if not offer_has_h264(answer.sdp):
                raise BadOffer("no H.264 codec in common with the offer (packetization-mode=1 is required); "
                               f"use GET /api/cameras/{camera_id}/live.mjpeg")
            await pc.setLocalDescription(answer)
        except BaseException:
            await self._close_session(sess.id, "refused")
            raise
        loop = asyncio.get_running_loop()
        sess.timers = [
            loop.call_later(cfg.session_max_s, lambda: loop.create_task(self._close_session(sess.id, "session limit"))),
            loop.call_later(cfg.connect_timeout_s, lambda: None if sess.connected else
                            loop.create_task(self._close_session(sess.id, "no connection"))),
        ]
        log.info("live: session %s… on camera %s opened (%d viewer(s) of it, %d in all)", sess.id[:6], camera_id,
                 len(src.viewers), len(self._sessions))
        return {"sdp": pc.localDescription.sdp, "type": "answer", "session_id": sess.id, "video": dict(src.info)}

    async def _source(self, camera_id: str, url: str) -> _Source:
        src = self._sources.get(camera_id)
        if src is not None and src.url == url and src.player.video.readyState == "live":
            return src
        if src is not None:
            await self._close_camera(camera_id, "stream changed or ended")
        pending = self._opening.get(camera_id)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        fut = self._opening[camera_id] = loop.create_future()
        try:
            player, info = await asyncio.wait_for(loop.run_in_executor(None, self._open_player, camera_id, url),
                                                  self.cfg.open_timeout_s + 5)
            from aiortc.contrib.media import MediaRelay

            src = self._sources[camera_id] = _Source(camera_id, url, player, MediaRelay(), info)
            fut.set_result(src)
            return src
        except BaseException as exc:
            if isinstance(exc, asyncio.TimeoutError):
                exc = SourceFailed(f"camera '{camera_id}': its stream did not open for live viewing in time")
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise exc from None
        finally:
            self._opening.pop(camera_id, None)

    def _open_player(self, camera_id: str, url: str):
        """In a worker thread (av.open blocks): the camera's stream, demuxed only."""
        import av
        from aiortc.contrib.media import MediaPlayer

        from vigil.config import redact_url

        try:
            player = MediaPlayer(url, format="rtsp", options={"rtsp_transport": "tcp"},
                                 timeout=self.cfg.open_timeout_s, decode=False)
        except (av.FFmpegError, OSError) as exc:
            log.warning("live: camera %s: opening %s failed: %s", camera_id, redact_url(url), type(exc).__name__)
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise SourceFailed(f"camera '{camera_id}': its stream could not be opened for live viewing ({why})") from None
        self.players_opened += 1
        container = getattr(player, "_MediaPlayer__container", None)  # aiortc keeps it private; only read here
        streams = list(container.streams.video) if container is not None else []
        cc = streams[0].codec_context if streams else None
        info = {"codec": cc.name if cc else None, "profile": getattr(cc, "profile", None) if cc else None,
                "width": cc.width if cc else None, "height": cc.height if cc else None, "passthrough": True}
        reason = None
        if player.video is None or info["codec"] != "h264":
            reason = f"the camera sends {info['codec'] or 'no video'}, not H.264"
        elif info["profile"] and info["profile"] not in PLAYABLE_PROFILES:
            reason = f"the camera's H.264 profile {info['profile']} is not one browsers play"
        if reason:
            self._stop_player(player)
            raise NotRelayable(f"camera '{camera_id}': {reason}; use GET /api/cameras/{camera_id}/live.mjpeg")
        log.info("live: camera %s pulled for viewers: %s %s %sx%s, passed through", camera_id, info["codec"],
                 info["profile"], info["width"], info["height"])
        return player, info

    @staticmethod
    def _stop_player(player) -> None:
        """Blocking (joins the demux thread): call from a worker thread."""
        track = player.video
        if track is not None:
            track.stop()
        else:
            container = getattr(player, "_MediaPlayer__container", None)
            if container is not None:
                container.close()

    async def _close_session(self, session_id: str, why: str) -> None:
        sess = self._sessions.pop(session_id, None)
        if sess is None:
            return
        for t in sess.timers:
            t.cancel()
        if sess.track is not None:
            sess.track.stop()  # unregisters from the MediaRelay (pc.close does not stop tracks)
        if sess.pc is not None:
            try:
                await sess.pc.close()
            except Exception:  # noqa: BLE001
                log.debug("live: closing a peer connection failed", exc_info=True)
        src = self._sources.get(sess.camera_id)
        if src is not None:
            src.viewers.discard(session_id)
            if not src.viewers and src.close_handle is None:
                loop = asyncio.get_running_loop()
                src.close_handle = loop.call_later(self.cfg.idle_close_s, lambda: loop.create_task(
                    self._close_idle(src)))
        log.info("live: session %s… on camera %s closed (%s)", session_id[:6], sess.camera_id, why)

    async def _close_idle(self, src: _Source) -> None:
        if self._sources.get(src.camera_id) is src and not src.viewers:
            await self._close_camera(src.camera_id, "no viewers")

    async def _close_camera(self, camera_id: str, why: str) -> None:
        for sid in self.sessions_of(camera_id):
            await self._close_session(sid, why)
        src = self._sources.pop(camera_id, None)
        if src is None:
            return
        if src.close_handle is not None:
            src.close_handle.cancel()
        track = src.player.video
        await asyncio.get_running_loop().run_in_executor(None, self._stop_player, src.player)
        try:  # the MediaRelay's reader may wait on the stopped track's queue: hand it the end marker (on this loop)
            track._queue.put_nowait(None)
        except Exception:  # noqa: BLE001 - aiortc internals changed: the reader task just stays parked
            pass
        log.info("live: camera %s pull closed (%s)", camera_id, why)

    async def _hang_up(self, camera_id, session_id, user_id, any_user) -> bool:
        sess = self._sessions.get(session_id)
        if sess is None or sess.camera_id != camera_id or not (any_user or sess.user_id == user_id):
            return False
        await self._close_session(session_id, "viewer hung up")
        return True

    async def _close_everything(self) -> None:
        for cid in {*self._sources, *(s.camera_id for s in self._sessions.values())}:
            await self._close_camera(cid, "service stopping")

    async def _housekeeping(self) -> None:
        """A camera whose stream ended (it broke, or the server went away) drops its viewers; they reconnect."""
        while True:
            await asyncio.sleep(1.0)
            for cid, src in list(self._sources.items()):
                if src.player.video is None or src.player.video.readyState != "live":
                    await self._close_camera(cid, "the camera's stream ended")
