#!/usr/bin/env python3
"""Make vigil's demo clips at setup time, from photographs that ship inside installed Python packages.

The repository ships no third-party images. The clips are composed here from
  * ultralytics/assets/bus.jpg, zidane.jpg   (people; ultralytics, AGPL-3.0)
  * skimage/data/astronaut.png                (person; NASA, public domain)
  * skimage/data/motorcycle_left.png          (motorcycle; Middlebury 2014 stereo set via scikit-image)
  * skimage/data/coffee.png                   (cup on the desk; Rachel Michetti, CC0)
pasted with feathered edges onto scenes drawn with OpenCV/numpy (a corridor in perspective with an
emergency exit, a fire-control room), plus per-frame sensor noise and a slight brightness flicker. The
drawn background is static apart from that noise (a background-subtraction rule watches it).

Output: H.264 (libx264, yuv420p) 640x360, 10 fps, a keyframe every 10 frames, no B-frames, written by
piping raw BGR frames to ffmpeg. Deterministic (fixed seeds) and idempotent: a clip is skipped when its
file exists and `.manifest.json` records the same generator version and size.

    python sample_videos/make_samples.py [--out DIR] [--force] [--verify] [--only NAME ...]

`--verify` runs the COCO detector over every 5th frame of each clip and replays the clip through the
vigil pipeline with the zones and rules of `demo.yaml`; it prints the numbers and exits 1 when a target
is missed. See README.md next to this file for what each clip shows and triggers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sprites.py, scenes.py, verify_samples.py beside this file

from scenes import Corridor, ControlRoom, Operator, Walker  # noqa: E402
from sprites import FPS, H, SEED, W, Cctv, Sprite, cutout, extend_down, grade, paste, smooth_wobble, soft_shadow  # noqa: E402

GENERATOR_VERSION = 1  # bump whenever the pictures change; clips with another version are made again
HERE = Path(__file__).resolve().parent
MANIFEST = ".manifest.json"
SOURCES_OF_PICTURES = ("make_samples.py", "sprites.py", "scenes.py")  # an edit to any of them makes the clips again

# ---------------------------------------------------------------------------------------------------
# The clips
# ---------------------------------------------------------------------------------------------------
@dataclass
class ClipSpec:
    name: str
    seconds: float
    label: str  # burned-in camera name
    about: str
    event_t: float | None  # when the thing happens (for the verification's before/after split)
    params: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(round(self.seconds * FPS))

    def version(self) -> str:
        """Generator version + a digest of this clip's spec and of this script (any edit makes it again)."""
        h = hashlib.sha1(json.dumps([self.name, self.seconds, self.label, self.event_t, self.params], sort_keys=True).encode())
        for name in SOURCES_OF_PICTURES:
            h.update((HERE / name).read_bytes())
        return f"{GENERATOR_VERSION}-{h.hexdigest()[:10]}"


CLIPS: list[ClipSpec] = [
    ClipSpec("corridor_motorcycle.mp4", 60, "CAM03 1F EAST EXIT", "a person walks through at 3-7 s; "
             "a motorcycle stands in front of the exit from 8 s to the end", 8.0,
             {"walkers": [["walker_beige", 3.0]], "bike_z": 4.75, "bike_x": 0.05, "bike_len_m": 2.15}),
    ClipSpec("corridor_boxes.mp4", 60, "CAM04 2F EAST EXIT", "a stack of cardboard boxes blocks the exit from 8 s; "
             "people walk past now and then", 8.0, {"walkers": [["walker_black", 2.5], ["walker_beige", 24.0],
                                                                ["walker_black", 41.0]]}),
    ClipSpec("corridor_clear.mp4", 45, "CAM05 3F EAST EXIT", "negative: people walk through (one stops for a few "
             "seconds in front of the exit); nothing is left behind", None, {}),
    ClipSpec("control_room.mp4", 60, "CAM01 FIRE CONTROL", "two operators on duty until they stand up at 13.5 s "
             "and walk out; the room is empty from about 15.5 s", 15.0, {"leave_at": 13.5}),
    ClipSpec("control_room_staffed.mp4", 45, "CAM01 FIRE CONTROL", "negative: two operators on duty all the time",
             None, {}),
]


def corridor_walkers(spec: ClipSpec, sprites: dict[str, Sprite]) -> list[Walker]:
    """Walk routes. 'left door' = doorway on the far left wall, 'right door' = near right wall,
    'camera' = walking out under the camera (bottom of the picture)."""
    c = Corridor
    zl, zr = sum(c.door_left) / 2, sum(c.door_right) / 2
    speed = 1.25

    def from_left_door(t0: float, name: str, pause: tuple[float, float] | None = None) -> Walker:
        pts = [(t0, -1.35, zl), (t0 + 0.8, -0.75, zl - 0.1)]
        t, x, z = pts[-1]
        if pause is not None:  # walk to a spot, stand there, walk on
            (px, pz), dur = pause, 4.0
            t += math.hypot(px - x, pz - z) / speed
            pts += [(t, px, pz), (t + dur, px, pz)]
            t, x, z = t + dur, px, pz
        tx, tz = 0.1, 1.25
        pts.append((t + math.hypot(tx - x, tz - z) / speed, tx, tz))
        return Walker(sprites[name], pts, fade_in=0.6)

    def from_right_door(t0: float, name: str) -> Walker:
        pts = [(t0, 1.4, zr), (t0 + 0.7, 0.85, zr - 0.15)]
        t, x, z = pts[-1]
        tx, tz = 0.7, 1.25
        pts.append((t + math.hypot(tx - x, tz - z) / speed, tx, tz))
        return Walker(sprites[name], pts, fade_in=0.5)

    if spec.name == "corridor_motorcycle.mp4":
        return [from_left_door(t0, n) for n, t0 in spec.params["walkers"]]
    if spec.name == "corridor_boxes.mp4":
        return [from_right_door(t0, n) for n, t0 in spec.params["walkers"]]
    # corridor_clear: a steady trickle, one of them stops in the exit zone for 4 s
    return [
        from_left_door(2.0, "walker_beige"),
        from_right_door(9.0, "walker_black"),
        from_left_door(15.0, "walker_black"),
        from_right_door(16.5, "walker_beige"),
        from_left_door(24.0, "walker_black", pause=(0.2, 5.0)),
        from_right_door(34.0, "walker_beige"),
        from_left_door(38.5, "walker_beige"),
    ]


def corridor_frames(spec: ClipSpec, sprites: dict[str, Sprite], rng: np.random.Generator) -> Iterator[np.ndarray]:
    scene = Corridor()
    bg = scene.background(np.random.default_rng(SEED + 1))  # the same corridor in every corridor clip
    cam = Cctv(rng, spec.label)
    walkers = corridor_walkers(spec, sprites)
    props: list[tuple[float, Callable[[np.ndarray], None]]] = []  # (Z, draw) things standing from event_t
    if spec.name == "corridor_motorcycle.mp4":
        bike = sprites["motorcycle"]
        z, x = spec.params["bike_z"], spec.params["bike_x"]
        u, v = scene.uv(x, 0.0, z)
        bgr, alpha, ax, ay = bike.scaled(spec.params["bike_len_m"] * scene.ppm(z) / bike.ref)

        def draw_bike(frame: np.ndarray) -> None:
            soft_shadow(frame, u, v - 2, bgr.shape[1] * 0.45, 0.12 * scene.ppm(z), 0.35)
            paste(frame, bgr, alpha, u - ax, v - ay)

        props.append((z, draw_bike))
    elif spec.name == "corridor_boxes.mp4":
        layer, alpha, z = scene.boxes_layer(np.random.default_rng(SEED + 2))

        def draw_boxes(frame: np.ndarray) -> None:
            frame += (layer - frame) * alpha[..., None]

        props.append((z, draw_boxes))
    for i in range(spec.frames):
        t = i / FPS
        frame = bg.copy()
        items: list[tuple[float, Callable[[np.ndarray], None]]] = []
        if spec.event_t is not None and t >= spec.event_t:
            items += props
        for w in walkers:
            st = w.state(t)
            if st is not None:
                items.append((st[1], lambda fr, w=w: w.draw(fr, scene, t)))
        for _, draw in sorted(items, key=lambda it: -it[0]):  # far to near
            draw(frame)
        yield cam.finish(frame, t)


def control_room_frames(spec: ClipSpec, sprites: dict[str, Sprite], rng: np.random.Generator) -> Iterator[np.ndarray]:
    room = ControlRoom()
    thumb = Corridor().background(np.random.default_rng(SEED + 1))
    bg, desk = room.background(np.random.default_rng(SEED + 3), thumb)
    desk_px = desk > 0
    cam = Cctv(rng, spec.label)
    wob = np.random.default_rng(SEED + 4)
    leave = spec.params.get("leave_at")
    ops = []
    for i, (name, (x, head_y, scale)) in enumerate(room.seats.items()):
        ops.append(Operator(sprites[name], x, head_y, scale, smooth_wobble(wob, 3, 0.12), smooth_wobble(wob, 3, 0.2),
                            leave_at=None if leave is None else leave + 0.3 * i, exit_dir=-1 if i == 0 else 1))
    cup = sprites["cup"]
    cbgr, calpha, cax, cay = cup.scaled(22.0 / cup.ref)  # a cup with its saucer, about 12 cm
    for i in range(spec.frames):
        t = i / FPS
        frame = bg.copy()
        for op in ops:
            op.draw(frame, t)
        np.copyto(frame, bg, where=desk_px[..., None])  # the desk hides everything below its top
        paste(frame, cbgr, calpha, 300 - cax, room.desk_top[1] - 5 - cay)
        yield cam.finish(frame, t)


def load_sprites() -> dict[str, Sprite]:
    corridor_tint, room_tint = (1.0, 1.0, 0.97), (1.02, 1.0, 0.96)
    s: dict[str, Sprite] = {}
    for name in ("walker_beige", "walker_black"):
        s[name] = grade(cutout(name), 0.95, corridor_tint)
    s["motorcycle"] = grade(cutout("motorcycle"), 0.98, corridor_tint, 0.9)
    s["operator_astronaut"] = extend_down(grade(cutout("operator_astronaut"), 0.92, room_tint), 0.35)
    s["operator_suit"] = extend_down(grade(cutout("operator_suit"), 1.05, room_tint), 0.3)
    cup = cutout("cup")
    ys, xs = np.nonzero(cup.mask > 0.5)
    cup.ref = float(xs.max() - xs.min())
    s["cup"] = grade(cup, 0.95, room_tint)
    return s


def clip_frames(spec: ClipSpec, sprites: dict[str, Sprite]) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(SEED + 100 + [c.name for c in CLIPS].index(spec.name))
    if spec.name.startswith("corridor"):
        return corridor_frames(spec, sprites, rng)
    return control_room_frames(spec, sprites, rng)


# ---------------------------------------------------------------------------------------------------
# Encoding, manifest
# ---------------------------------------------------------------------------------------------------
def encode(path: Path, frames: Iterator[np.ndarray], n: int) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("make_samples: ffmpeg is not installed (apt-get install ffmpeg)")
    tmp = path.with_name(f".{path.stem}.partial.mp4")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
           "-an", "-c:v", "libx264", "-preset", "fast", "-crf", "22", "-pix_fmt", "yuv420p",
           "-bf", "0", "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
           "-movflags", "+faststart", "-fflags", "+bitexact", "-map_metadata", "-1",
           "-metadata", "comment=vigil synthetic demo clip (sample_videos/make_samples.py)", str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    written = 0
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            written += 1
        proc.stdin.close()
    except BrokenPipeError:
        pass
    rc = proc.wait()
    if rc != 0 or written != n:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"make_samples: ffmpeg failed for {path.name} (exit {rc}, {written}/{n} frames)")
    os.replace(tmp, path)


def read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text())
        return data if isinstance(data, dict) and isinstance(data.get("clips"), dict) else {"clips": {}}
    except (OSError, ValueError):
        return {"clips": {}}


def up_to_date(out: Path, spec: ClipSpec, manifest: dict) -> bool:
    entry = manifest["clips"].get(spec.name)
    path = out / spec.name
    return bool(entry) and path.is_file() and entry.get("version") == spec.version() and entry.get("bytes") == path.stat().st_size


def make(out: Path, force: bool, only: list[str] | None) -> list[ClipSpec]:
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    todo = [c for c in CLIPS if (not only or c.name in only or c.name.removesuffix(".mp4") in only)]
    stale = [c for c in todo if force or not up_to_date(out, c, manifest)]
    for c in todo:
        if c not in stale:
            print(f"make_samples: {out / c.name} is up to date (version {c.version()})")
    if not stale:
        return todo
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    sprites = load_sprites()
    print(f"make_samples: cut out {len(sprites)} things from the package photographs in {time.perf_counter() - t0:.1f} s")
    for c in stale:
        t0 = time.perf_counter()
        path = out / c.name
        encode(path, clip_frames(c, sprites), c.frames)
        dt = time.perf_counter() - t0
        size = path.stat().st_size
        manifest["clips"][c.name] = {"version": c.version(), "bytes": size, "frames": c.frames, "fps": FPS,
                                     "seconds": c.seconds, "event_t": c.event_t, "about": c.about,
                                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        manifest["generator_version"] = GENERATOR_VERSION
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        print(f"make_samples: made {path} ({c.seconds:.0f} s, {c.frames} frames, {size / 1e6:.2f} MB) in {dt:.1f} s: {c.about}")
    print(f"make_samples: {len(stale)} clip(s) made in {time.perf_counter() - t_all:.1f} s")
    return todo


# ---------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_videos/)")
    ap.add_argument("--force", action="store_true", help="make every clip again")
    ap.add_argument("--verify", action="store_true", help="run the COCO detector and the vigil pipeline over the clips")
    ap.add_argument("--only", nargs="*", help="clip names to make/verify (default: all)")
    ap.add_argument("--model", default=None, help="detector for --verify (default: the catalogue's object model)")
    ap.add_argument("--config", type=Path, default=HERE / "demo.yaml", help="vigil config with the clips' zones (for --verify)")
    ap.add_argument("--still", type=float, nargs="*", help="also write PNG stills at these seconds (for a quick look)")
    args = ap.parse_args(argv)
    specs = make(args.out, args.force, args.only)
    if args.still:
        import cv2

        for spec in specs:
            cap = cv2.VideoCapture(str(args.out / spec.name))
            for s in args.still:
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(s * FPS))
                okf, frame = cap.read()
                if okf:
                    p = args.out / f"{spec.name.removesuffix('.mp4')}_{s:g}s.png"
                    cv2.imwrite(str(p), frame)
            cap.release()
    if args.verify:
        sys.path.insert(0, str(HERE.parent))
        from vigil.models.catalogue import resolve_model

        from verify_samples import verify

        return 0 if verify(args.out, specs, str(resolve_model(args.model)), args.config) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
