"""The `live:` section of the YAML: live viewing over WebRTC (the camera's own H.264 relayed) and the MJPEG
fallback. Validated like the rest of vigil/config.py (unknown keys rejected, every field titled and described);
kept apart so vigil/config.py stays small and does not import aiortc."""
from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_viewers_per_camera: int = Field(4, title="Viewers per camera", description=(
        "WebRTC viewers of one camera at once (they share one pull from the camera); one more answers 503."),
        ge=1, le=64)
    max_viewers: int = Field(16, title="Viewers in total", description=(
        "WebRTC viewers of all cameras at once; one more answers 503."), ge=1, le=512)
    session_max_s: float = Field(3600, title="Session limit (s)", description=(
        "A WebRTC viewing session is closed after this long; the page opens a new one."), ge=10, le=86400)
    connect_timeout_s: float = Field(30, title="Connect timeout (s)", description=(
        "A session whose connection is not up this long after the answer is closed (frees its viewer slot)."),
        ge=1, le=600)
    idle_close_s: float = Field(5, title="Idle close (s)", description=(
        "The pull from the camera stays open this long after its last viewer left (a page reload reuses it)."),
        ge=0, le=600)
    open_timeout_s: float = Field(10, title="Open timeout (s)", description=(
        "Opening and reading the camera's RTSP stream for live viewing gives up after this long."), ge=1, le=120)
    ice_host_addresses: list[str] = Field(default_factory=list, title="ICE host addresses", description=(
        "The only local addresses offered to browsers as ICE host candidates (e.g. the LAN address the operators "
        "reach). Empty: every interface address but loopback (aioice's own choice). 127.0.0.1 is allowed (tests, "
        "a browser on the same machine). Applies to the whole process."), max_length=16)
    stun_servers: list[str] = Field(default_factory=list, title="STUN servers", description=(
        "STUN servers (`stun:host:port`) for server-reflexive candidates; empty: none (no traffic leaves the "
        "network; aiortc's default would ask Google's)."), max_length=4)
    mjpeg_fps: float = Field(4, title="MJPEG rate", description=(
        "Frames per second of the MJPEG fallback (the reader's latest decoded frames, JPEG-encoded)."), gt=0, le=15)
    mjpeg_max_s: float = Field(300, title="MJPEG limit (s)", description=(
        "An MJPEG stream ends after this long; the page reconnects."), ge=1, le=3600)

    @field_validator("ice_host_addresses")
    @classmethod
    def _ips(cls, v: list[str]) -> list[str]:
        for a in v:
            ipaddress.ip_address(a)  # ValueError names the bad one
        return v

    @field_validator("stun_servers")
    @classmethod
    def _stun(cls, v: list[str]) -> list[str]:
        for s in v:
            if not s.startswith(("stun:", "stuns:")):
                raise ValueError(f"'{s}' is not a stun: URL")
        return v
