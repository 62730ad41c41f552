"""Footage for `vigil bench streams --still-share`: still cameras with rare movement, and which camera plays what.

Real corridors and duty rooms are still most of the day. A still clip is one real frame of the shared street
footage held for `period_s` seconds, with one short burst of movement: the footage plays on from that frame
for half the burst and back again (so the clip ends on the frame it started on and loops without a jump).
It is encoded once (libx264, the same settings as `annexb_from_video`: 1 s key frames with SPS/PPS before
each) into `.vigil-data/bench/still/`, then cut at its key frames and rotated into `variants` clips whose
bursts fall at evenly spaced moments of the period, so that not every still camera moves at once.

`mix_mounts` spreads the still cameras evenly over the camera numbers (any first n cameras hold the share as
nearly as n allows, which the sweep needs: a step with n cameras plays the first n mounts) and gives them
burst phases from the golden-ratio sequence (evenly spread for any count)."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

STILL_PERIOD_S = 120.0  # one burst of movement every two minutes
STILL_BURST_S = 8.0  # 4 s of the footage playing on from the still frame, 4 s back to it
STILL_AT_S = 10.0  # the still frame: this second of street_crowd.mp4
STILL_VARIANTS = 12  # burst phases, period_s / variants apart
GOLDEN = (math.sqrt(5) - 1) / 2


def is_still(i: int, share: float) -> bool:
    """Camera i plays still footage: the still cameras are spread evenly, so that of any first n cameras
    floor(n * share) are still."""
    return math.floor((i + 1) * share + 1e-9) > math.floor(i * share + 1e-9)


def mix_mounts(n: int, still_share: float, moving: list[Path], still: list[Path]) -> tuple[dict[str, Path], list[str]]:
    """(mount name -> clip, kind of each camera: "moving" or "still"). Moving cameras play `moving[0]` except
    every third, which plays `moving[1]` (the fire clip), as the bench always did; the m-th still camera plays
    still variant floor(frac(m * golden) * len(still))."""
    mounts, kinds = {}, []
    n_moving = n_still = 0
    for i in range(n):
        name = f"cam{i:03d}"
        if still and still_share > 0 and is_still(i, still_share):
            mounts[name] = still[int((n_still * GOLDEN) % 1.0 * len(still)) % len(still)]
            kinds.append("still")
            n_still += 1
        else:
            mounts[name] = moving[0 if n_moving % 3 or len(moving) == 1 else 1]
            kinds.append("moving")
            n_moving += 1
    return mounts, kinds


def split_gops(stream: bytes) -> list[bytes]:
    """An Annex-B H.264 stream cut before each SPS (x264 with repeat-headers writes SPS, PPS before every key
    frame and nowhere else): each piece starts a closed group of pictures and decodes on its own."""
    starts = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        if i + 3 < len(stream) and stream[i + 3] & 0x1F == 7:
            starts.append(i - 1 if i > 0 and stream[i - 1] == 0 else i)  # keep a 4-byte start code whole
        i = stream.find(b"\x00\x00\x01", i + 3)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [stream[a:b] for a, b in zip(starts, starts[1:] + [len(stream)])]


def _read_frames(src: Path, start_s: float, count: int, fps: float, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    cmd = [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start_s:.3f}", "-i", str(src),
           "-frames:v", str(count), "-vf", f"fps={fps},scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    res = subprocess.run(cmd, capture_output=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg could not read {src}: {res.stderr.decode(errors='replace')[-1000:]}")
    frames = np.frombuffer(res.stdout, np.uint8)
    n = frames.size // (w * h * 3)
    if n < 2:
        raise RuntimeError(f"{src}: fewer than 2 frames from {start_s:g} s")
    return frames[: n * w * h * 3].reshape(n, h, w, 3)


def still_clips(src: Path, cache_dir: Path, fps: float, size: tuple[int, int], period_s: float = STILL_PERIOD_S,
                burst_s: float = STILL_BURST_S, at_s: float = STILL_AT_S, variants: int = STILL_VARIANTS) -> list[Path]:
    """The still clip's `variants` rotations (Annex-B .h264, cached under `cache_dir` by a hash of the source and
    the parameters; made once)."""
    src = Path(src).resolve()
    st = src.stat()
    key = json.dumps([str(src), st.st_mtime_ns, st.st_size, fps, list(size), period_s, burst_s, at_s, variants, 1])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    outs = [cache_dir / f"{src.stem}-still-{digest}-{k:02d}.h264" for k in range(variants)]
    if all(p.is_file() and p.stat().st_size > 0 for p in outs):
        return outs
    cache_dir.mkdir(parents=True, exist_ok=True)
    w, h = size
    half = max(1, round(burst_s * fps / 2))
    burst = _read_frames(src, at_s, half + 1, fps, size)
    half = len(burst) - 1
    total = max(round(period_s * fps), 2 * half + 1)
    gop = max(1, round(fps))  # 1 s key frames, as annexb_from_video
    cmd = [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast",
           "-profile:v", "main", "-pix_fmt", "yuv420p", "-bf", "0", "-g", str(gop), "-keyint_min", str(gop),
           "-sc_threshold", "0", "-x264-params", "repeat-headers=1", "-f", "h264", "pipe:1"]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
        still = burst[0].tobytes()
        try:
            # frames 0..2*half: the burst (on and back), then the still frame to the end of the period
            for j in range(total):
                if j <= 2 * half:
                    proc.stdin.write(burst[half - abs(j - half)].tobytes())
                else:
                    proc.stdin.write(still)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait(300) != 0:
            raise RuntimeError(f"ffmpeg failed encoding the still clip: {err[-1000:]}")
        out.seek(0)
        gops = split_gops(out.read())
    for k, path in enumerate(outs):
        shift = round(k * len(gops) / variants)  # variant k's burst starts k * period / variants into the clip
        data = b"".join(gops[-shift:] + gops[:-shift]) if shift else b"".join(gops)
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".part", dir=cache_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return outs
