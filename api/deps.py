"""FastAPI dependencies."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from vigil.service import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.runtime.sessions() as s:
        yield s
