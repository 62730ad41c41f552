"""`LocalFeed.call` and `answered`: how a node's worker answers the API's live calls across Ray (plain dicts) and how
the API side raises a refusal again as the same kind, so that `NodeFeed` tells "not running there" (the camera moved)
from "no frame yet" by class, not by status. A real Runtime without cameras started; no Ray."""
from __future__ import annotations

import pytest

from vigil_fixtures import service_config


@pytest.fixture()
def feed(tmp_path):
    from vigil.config import parse_config
    from vigil.live_feed import LocalFeed
    from vigil.service import Runtime

    rt = Runtime(parse_config(service_config(tmp_path, f"sqlite:///{tmp_path / 'v.db'}")), start_cameras=False)
    yield LocalFeed(rt)
    rt.stop()


def test_refusals_cross_as_their_own_kind(feed):
    from vigil.live_errors import LiveError
    from vigil.live_feed import NoFrame, NotRunning, answered

    reply = feed.call("next_jpeg", "exit1", None)  # configured, not started here
    assert reply["error"]["kind"] == "NotRunning" and reply["error"]["status"] == 409
    with pytest.raises(NotRunning) as exc:
        answered(reply)
    assert exc.value.status == 409 and "exit1" in exc.value.detail

    reply = feed.call("snapshot_jpeg", "ctrl")
    assert reply["error"]["kind"] == "NoFrame"
    with pytest.raises(NoFrame) as exc:
        answered(reply)
    assert exc.value.status == 503

    reply = feed.call("format_disk", "ctrl")  # not a live method: a plain refusal with its status
    with pytest.raises(LiveError) as exc:
        answered(reply)
    assert type(exc.value) is LiveError and exc.value.status == 400 and "format_disk" in exc.value.detail

    assert answered(feed.call("detections", "ctrl")) == {"frame_at": None, "width": None, "height": None,
                                                         "detections": []}
