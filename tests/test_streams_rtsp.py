"""CameraReader against a REAL RTSP server (GStreamer, streams/rtsp_server.py) serving a REAL clip.

Failure modes covered: killed server, hung server (SIGSTOP: TCP open, nothing sent), a port
nobody listens on, and authentication (right and wrong password, no password in logs)."""
from __future__ import annotations

import logging
import socket
import time
from itertools import islice

import pytest
from helpers import wait_until

from vigil.streams.reader import CameraReader, ReaderSettings, backoff_delays

FAST = ReaderSettings(open_timeout_s=2, read_timeout_s=2, backoff_initial_s=0.5, backoff_max_s=2)
# The longest a reader should need to (re)connect once the server is back: one backoff wait
# (<= backoff_max_s), one open that may still time out, then the next open and the first frames.
RECONNECT_S = FAST.backoff_max_s + 2 * FAST.open_timeout_s + 4
PASSWORD = "s3cret-pw"


@pytest.fixture
def make_reader():
    readers: list[CameraReader] = []

    def make(url: str, camera_id: str = "cam", settings: ReaderSettings = FAST) -> CameraReader:
        reader = CameraReader(camera_id, url, settings)
        readers.append(reader)
        return reader.start()

    yield make
    for reader in readers:
        reader.stop()


def online(reader: CameraReader) -> bool:
    return reader.health.status == "online"


def offline(reader: CameraReader) -> bool:
    return reader.health.status == "offline"


def frames_flow(reader: CameraReader, n: int = 10, timeout: float = 5.0) -> bool:
    """True when at least `n` more frames arrive within `timeout` seconds."""
    start = reader.health.frames
    return wait_until(lambda: reader.health.frames >= start + n, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_backoff_delays_double_up_to_cap():
    assert list(islice(backoff_delays(1, 30), 7)) == [1, 2, 4, 8, 16, 30, 30]
    assert list(islice(backoff_delays(0.5, 2), 5)) == [0.5, 1, 2, 2, 2]


def test_reader_gets_frames_at_source_rate(rtsp_server, make_reader):
    reader = make_reader(rtsp_server.url("cam"))
    assert wait_until(lambda: online(reader), 10), reader.health.snapshot()
    # let the burst buffered while the client probed the stream drain, then measure
    assert frames_flow(reader, 24, timeout=5)
    f0, t0 = reader.health.frames, time.monotonic()
    time.sleep(3.0)  # the measuring window itself
    fps = (reader.health.frames - f0) / (time.monotonic() - t0)
    assert 15 <= fps <= 35, f"{fps:.1f} fps from a 23.98 fps source"

    frame = reader.frames.get(timeout=2)
    assert frame is not None
    assert frame.image.shape == (360, 640, 3)
    snap = reader.health.snapshot()
    assert (snap["width"], snap["height"]) == (640, 360)
    assert snap["status"] == "online" and snap["last_error"] is None


def test_killed_server_goes_offline_then_recovers_after_restart(rtsp_server, make_reader):
    reader = make_reader(rtsp_server.url("cam"))
    assert wait_until(lambda: online(reader), 10)
    assert frames_flow(reader)

    rtsp_server.kill()
    t0 = time.monotonic()
    assert wait_until(lambda: offline(reader), FAST.read_timeout_s + 1.5), reader.health.snapshot()
    assert time.monotonic() - t0 <= FAST.read_timeout_s + 1.5
    assert reader.health.last_error

    port = rtsp_server.port
    rtsp_server.restart()
    assert rtsp_server.port == port
    assert wait_until(lambda: online(reader), RECONNECT_S), reader.health.snapshot()
    assert reader.health.reconnects >= 1
    assert frames_flow(reader, 24)
    assert reader.alive


def test_hung_server_does_not_block_reader_and_recovers_on_resume(rtsp_server, make_reader):
    reader = make_reader(rtsp_server.url("cam"))
    assert wait_until(lambda: online(reader), 10)
    assert frames_flow(reader)

    rtsp_server.pause()  # SIGSTOP: the TCP connection stays open, no more data
    t0 = time.monotonic()
    assert wait_until(lambda: offline(reader), FAST.read_timeout_s + 3), reader.health.snapshot()
    assert time.monotonic() - t0 <= FAST.read_timeout_s + 3
    assert reader.alive
    reconnects = reader.health.reconnects
    assert reconnects >= 1

    # reconnect attempts against the hung server time out (open timeout) instead of blocking
    time.sleep(FAST.open_timeout_s + FAST.backoff_initial_s)
    assert offline(reader) and reader.alive

    rtsp_server.resume()
    assert wait_until(lambda: online(reader), RECONNECT_S), reader.health.snapshot()
    assert frames_flow(reader, 24)


def test_stop_is_prompt_while_server_is_hung(rtsp_server, make_reader):
    reader = make_reader(rtsp_server.url("cam"))
    assert wait_until(lambda: online(reader), 10)
    assert frames_flow(reader)

    rtsp_server.pause()
    time.sleep(0.3)  # the reader is now blocked inside read()
    t0 = time.monotonic()
    reader.stop()
    elapsed = time.monotonic() - t0
    assert not reader.alive, "reader thread still stuck after stop()"
    assert elapsed <= FAST.read_timeout_s + 2, f"stop() took {elapsed:.1f} s"
    assert reader.health.status == "stopped"

    # the hung server can be killed and brought back on the same port for a new reader
    rtsp_server.restart()
    again = make_reader(rtsp_server.url("cam"), camera_id="cam-again")
    assert wait_until(lambda: online(again), RECONNECT_S), again.health.snapshot()
    assert frames_flow(again)


def test_camera_that_never_connects(make_reader, caplog):
    caplog.set_level(logging.DEBUG, logger="vigil")
    reader = make_reader(f"rtsp://127.0.0.1:{free_port()}/cam", camera_id="ghost")

    def attempts() -> int:
        return sum(1 for r in caplog.records
                   if r.name.startswith("vigil.streams") and "ghost" in r.getMessage() and "retrying" in r.getMessage())

    assert wait_until(lambda: offline(reader), FAST.open_timeout_s + 1)
    assert wait_until(lambda: attempts() >= 1, 2)
    first = attempts()
    # backoff 0.5, 1, 2 s: at least two more attempts within a few seconds
    assert wait_until(lambda: attempts() >= first + 2, 5), attempts()
    assert offline(reader) and reader.health.frames == 0
    assert "cannot open" in (reader.health.last_error or "")

    t0 = time.monotonic()
    reader.stop()
    assert time.monotonic() - t0 < 1.5
    assert not reader.alive


def test_auth_password_works_and_never_leaks(rtsp_server_factory, make_reader, caplog):
    caplog.set_level(logging.DEBUG, logger="vigil")
    server = rtsp_server_factory(auth=("viewer", PASSWORD))
    url = server.url("cam")
    assert PASSWORD in url

    wrong = make_reader(url.replace(PASSWORD, "not-the-pw"), camera_id="wrong-pw")
    anonymous = make_reader(server.url("cam", with_auth=False), camera_id="no-pw")
    reader = make_reader(url, camera_id="auth")
    assert wait_until(lambda: online(reader), 10), reader.health.snapshot()
    assert frames_flow(reader)

    errors = []
    server.kill()
    assert wait_until(lambda: offline(reader), FAST.read_timeout_s + 1.5)
    errors.append(reader.health.last_error)
    server.restart()
    assert wait_until(lambda: online(reader), RECONNECT_S), reader.health.snapshot()
    assert frames_flow(reader)

    for bad in (wrong, anonymous):
        assert offline(bad), bad.health.snapshot()
        assert bad.health.frames == 0
        errors.append(bad.health.last_error)
    assert all(errors), errors
    for text in errors:
        assert PASSWORD not in text
    messages = [r.getMessage() for r in caplog.records]
    assert any("opened" in m and "auth" in m for m in messages), "expected reader log records"
    leaks = [m for m in messages if PASSWORD in m]
    assert not leaks, leaks
    assert PASSWORD not in reader.safe_url and PASSWORD not in repr(reader.health)


PARENT = """
import sys, time
from vigil.streams.reader import CameraReader, ReaderSettings

if __name__ == "__main__":
    reader = CameraReader("cam", sys.argv[1], ReaderSettings()).start()
    deadline = time.monotonic() + 20
    while reader.last_frame is None and time.monotonic() < deadline:
        time.sleep(0.1)
    print(reader._proc.pid, reader.last_frame is not None, flush=True)
    time.sleep(120)
"""


def test_decoder_ends_when_its_parent_is_killed(rtsp_server, tmp_path):
    """A service or a cluster node's worker killed with SIGKILL cannot stop its decoders: each decoder watches its
    parent and ends within a few seconds instead of pulling the camera for ever under init."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen([sys.executable, str(script), rtsp_server.url("cam")], stdout=subprocess.PIPE, text=True)
    decoder = None
    try:
        pid, got_frame = proc.stdout.readline().split()
        assert got_frame == "True", "the decoder never delivered a frame"
        decoder = int(pid)

        def running() -> bool:
            try:
                with open(f"/proc/{decoder}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except FileNotFoundError:
                return False

        assert running()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        assert wait_until(lambda: not running(), 8), f"decoder {decoder} still runs after its parent was killed"
    finally:
        proc.kill()
        proc.wait()
        if decoder is not None:  # a failed run leaves no orphan behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(decoder, signal.SIGKILL)
