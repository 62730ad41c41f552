"""A real RTSP server for tests and demos, driven from the venv.

`annexb_from_video` turns any video into a cached Annex-B H.264 elementary stream, and
`RtspServer` serves such files in an endless loop through `streams/rtsp_server.py`, which runs
under the system interpreter (`/usr/bin/python3`, python3-gi + GStreamer RTSP server). The server
process can be killed, hung (SIGSTOP), resumed and restarted on the same port to exercise the
camera readers' failure handling. It never outlives the Python process that started it.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("vigil.streams.rtsp")

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
EXIT_PORT_BUSY = 3  # rtsp_server.py's exit status when it cannot bind its port


# -- clips -----------------------------------------------------------------------------------
def _probe_fps(src: Path) -> float | None:
    ffprobe = shutil.which("ffprobe")
    if not ffprobe:
        return None
    out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=avg_frame_rate,r_frame_rate", "-of", "json", str(src)],
                         capture_output=True, text=True, timeout=60)
    try:
        stream = json.loads(out.stdout)["streams"][0]
    except (ValueError, KeyError, IndexError):
        return None
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = stream.get(key, "0/0").partition("/")
        try:
            fps = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if 0 < fps < 1000:
            return fps
    return None


def annexb_from_video(src: Path, cache_dir: Path, fps: float | None = None,
                      size: tuple[int, int] | None = None, gop_s: float = 1.0) -> Path:
    """Convert any video to an Annex-B H.264 elementary stream (.h264) with ffmpeg and return it.

    libx264, yuv420p, main profile, no B-frames, a keyframe every `gop_s` seconds (no scene-cut
    keyframes), SPS/PPS repeated before every keyframe, frame rate in the SPS VUI (the RTSP server
    paces the stream by it). `fps`/`size` resample/scale; None keeps the source's. The result is
    cached in `cache_dir` under a hash of (source path, mtime, size, parameters)."""
    src = Path(src).resolve()
    if not src.is_file():
        raise FileNotFoundError(src)
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    st = src.stat()
    key = json.dumps([str(src), st.st_mtime_ns, st.st_size, fps, list(size) if size else None, gop_s, 1])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    out = cache_dir / f"{src.stem}-{digest}.h264"
    if out.is_file() and out.stat().st_size > 0:
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    rate = fps or _probe_fps(src) or 25.0
    gop = max(1, round(gop_s * rate))
    filters = []
    if fps:
        filters.append(f"fps={fps}")
    if size:
        filters.append(f"scale={int(size[0])}:{int(size[1])}")
    cmd = [ffmpeg, "-nostdin", "-y", "-v", "error", "-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn"]
    if filters:
        cmd += ["-vf", ",".join(filters)]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
            "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-x264-params", "repeat-headers=1", "-f", "h264"]
    fd, tmp = tempfile.mkstemp(prefix=out.stem, suffix=".part", dir=cache_dir)
    os.close(fd)
    try:
        res = subprocess.run(cmd + [tmp], capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or os.path.getsize(tmp) == 0:
            raise RuntimeError(f"ffmpeg failed on {src} (exit {res.returncode}): {res.stderr.strip()[-2000:]}")
        os.replace(tmp, out)  # atomic: a concurrent caller sees a whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


# -- availability ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def gst_rtsp_available() -> str | None:
    """None when the GStreamer RTSP server can be used, else the reason why not."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found"
    if not SERVER_SCRIPT.is_file():
        return f"{SERVER_SCRIPT} missing"
    try:
        res = subprocess.run([SYSTEM_PYTHON, str(SERVER_SCRIPT), "--check"], capture_output=True,
                             text=True, timeout=60, env=_child_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {SERVER_SCRIPT.name}: {e}"
    if res.returncode == 0 and res.stdout.strip() == "OK":
        return None
    return (res.stdout + res.stderr).strip()[-500:] or f"{SERVER_SCRIPT.name} --check exit {res.returncode}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # the venv must not leak into the system interpreter
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(k, None)
    return env


# -- server ----------------------------------------------------------------------------------
_live: "weakref.WeakSet[RtspServer]" = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    for srv in list(_live):
        srv.kill()


class RtspServerError(RuntimeError):
    pass


class RtspServer:
    """One `rtsp_server.py` process serving `mounts` (name -> Annex-B .h264 file) on 127.0.0.1.

    with RtspServer({"cam1": clip}) as srv:
        url = srv.url("cam1")
        srv.pause(); srv.resume(); srv.kill(); srv.restart()
    """

    def __init__(self, mounts: dict[str, Path], port: int = 0, auth: tuple[str, str] | None = None):
        if not mounts:
            raise ValueError("RtspServer needs at least one mount")
        self.mounts = {name.strip("/"): Path(p) for name, p in mounts.items()}
        self.port = port
        self.auth = auth
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._lock = threading.RLock()
        _live.add(self)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 15) -> "RtspServer":
        """Launch the server and wait for its READY line; raise RtspServerError on failure."""
        with self._lock:
            if self.running:
                raise RtspServerError("RTSP server already running")
            cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
            for name, path in self.mounts.items():
                cmd += ["--mount", f"{name}={Path(path).resolve()}"]
            if self.auth:
                cmd += ["--auth", f"{self.auth[0]}:{self.auth[1]}"]
            self._close_stderr()
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=self._stderr, env=_child_env(), process_group=0)
            try:
                port = self._wait_ready(timeout)
            except BaseException:
                self.kill()
                raise
            self.port = port
            log.debug("RTSP server pid %d ready on port %d", self._proc.pid, port)
            return self

    def _wait_ready(self, timeout: float) -> int:
        proc, buf = self._proc, b""
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RtspServerError(f"RTSP server gave no READY within {timeout:.0f} s{self._stderr_tail()}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:  # stdout closed: the process is exiting
                    rc = proc.wait(5)
                    cause = _PortBusy() if rc == EXIT_PORT_BUSY else None
                    raise RtspServerError(f"RTSP server exited with status {rc} before READY"
                                          f"{self._stderr_tail()}") from cause
                buf += chunk
                if b"\n" in buf:
                    line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
                    word, _, port = line.partition(" ")
                    if word != "READY" or not port.isdigit():
                        raise RtspServerError(f"unexpected output from RTSP server: {line!r}{self._stderr_tail()}")
                    return int(port)
            elif proc.poll() is not None and not select.select([fd], [], [], 0)[0]:
                raise RtspServerError(f"RTSP server exited with status {proc.returncode}{self._stderr_tail()}")

    def _stderr_tail(self, n: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        if self.auth:
            text = text.replace(self.auth[1], "***")
        return f"; stderr: {text[-n:]}" if text else ""

    def restart(self, timeout: float = 15) -> "RtspServer":
        """Start again on the SAME port (after kill/stop, or killing a running one first).
        Retries while the port is still briefly held by the old process."""
        with self._lock:
            self.kill()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    return self.start(timeout=max(1.0, deadline - time.monotonic()))
                except RtspServerError as e:
                    if not isinstance(e.__cause__, _PortBusy) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.2)

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM (and SIGCONT, in case it is paused), then SIGKILL after `timeout` seconds."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.send_signal(signal.SIGCONT)
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
                except ProcessLookupError:
                    pass
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the server is gone at once (its sockets close), like a crashed camera."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                log.error("RTSP server pid %d did not die", proc.pid)
            if proc.stdout:
                proc.stdout.close()

    def pause(self) -> None:
        """SIGSTOP: a hung server; its TCP connections stay open but nothing is sent or answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        with self._lock:
            if not self.running:
                raise RtspServerError("RTSP server is not running")
            self._proc.send_signal(sig)

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- info ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def url(self, name: str, with_auth: bool = True) -> str:
        name = name.strip("/")
        if name not in self.mounts:
            raise KeyError(f"no mount {name!r}; have {sorted(self.mounts)}")
        if not self.port:
            raise RtspServerError("RTSP server has no port yet; call start()")
        cred = ""
        if self.auth and with_auth:
            cred = f"{quote(self.auth[0], safe='')}:{quote(self.auth[1], safe='')}@"
        return f"rtsp://{cred}127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> "RtspServer":
        return self if self.running else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._close_stderr()

    def __del__(self) -> None:
        try:
            self.kill()
            self._close_stderr()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RtspServer(port={self.port}, mounts={sorted(self.mounts)}, {state})"


class _PortBusy(Exception):
    """Marks an RtspServerError caused by the port being taken (restart retries on it)."""
