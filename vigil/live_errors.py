"""The live relay's refusals: each carries the HTTP status the API answers and a detail safe to show (never the
camera URL). No FastAPI here; api/routers/live.py and api/routers/cameras.py turn them into responses."""
from __future__ import annotations


class LiveError(Exception):
    """A refusal with the HTTP status the API answers and a detail safe to show (never the camera URL)."""
    status = 409

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotRelayable(LiveError):
    status = 409  # not RTSP, not H.264, a profile browsers do not play


class ViewerCap(LiveError):
    status = 503


class SourceFailed(LiveError):
    status = 503  # the camera's stream could not be opened for live viewing


class BadOffer(LiveError):
    status = 422
