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
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

GENERATOR_VERSION = 1  # bump whenever the pictures change; clips with another version are made again
W, H, FPS = 640, 360, 10
SEED = 20240518
HERE = Path(__file__).resolve().parent
MANIFEST = ".manifest.json"
CLOCK0 = datetime(2024, 5, 18, 14, 32, 0)  # the time burned into the picture at t = 0

# ---------------------------------------------------------------------------------------------------
# Source photographs (inside installed packages; never copied into the repository)
# ---------------------------------------------------------------------------------------------------
SOURCES: dict[str, tuple[str, str]] = {
    "bus": ("ultralytics", "assets/bus.jpg"),
    "zidane": ("ultralytics", "assets/zidane.jpg"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
    "coffee": ("skimage", "data/coffee.png"),
}

# Rough outlines (source pixel coordinates) of the things cut out of the photographs; GrabCut refines
# the edge inside a band around each outline.
OUTLINES: dict[str, tuple[str, list[tuple[int, int]]]] = {
    # the man in the beige coat, walking (bus.jpg)
    "walker_beige": ("bus", [(130, 401), (159, 410), (160, 440), (156, 470), (184, 487), (200, 530), (203, 600), (196, 694),
                             (197, 740), (201, 790), (222, 860), (244, 885), (244, 898), (190, 900), (172, 880), (160, 850),
                             (137, 809), (128, 760), (106, 718), (86, 760), (82, 809), (96, 860), (108, 880), (106, 898),
                             (60, 898), (52, 880), (58, 850), (58, 800), (60, 700), (58, 620), (60, 540), (73, 480),
                             (105, 462), (102, 430), (110, 408)]),
    # the man in the black coat (bus.jpg)
    "walker_black": ("bus", [(276, 409), (305, 423), (301, 459), (319, 487), (344, 559), (337, 694), (338, 720), (325, 770),
                             (300, 820), (292, 860), (250, 860), (244, 809), (226, 694), (229, 559), (237, 487), (262, 459),
                             (259, 423)]),
    # Eileen Collins, head and torso (astronaut.png)
    "operator_astronaut": ("astronaut", [(225, 15), (262, 22), (292, 50), (302, 95), (285, 140), (290, 165), (315, 190),
                                         (352, 250), (362, 300), (366, 420), (360, 512), (20, 512), (22, 400), (30, 300),
                                         (55, 240), (100, 205), (118, 180), (150, 150), (155, 95), (170, 45), (195, 25)]),
    # the man on the right, head and torso (zidane.jpg)
    "operator_suit": ("zidane", [(983, 47), (1040, 60), (1072, 119), (1055, 219), (1033, 286), (1083, 408), (1150, 413),
                                 (1089, 447), (1067, 485), (1100, 586), (1133, 697), (1133, 720), (750, 720), (750, 397),
                                 (800, 308), (900, 247), (905, 219), (900, 152), (900, 113), (930, 60)]),
    # the motorcycle, wheels to mirrors (motorcycle_left.png)
    "motorcycle": ("motorcycle", [(93, 207), (104, 190), (149, 168), (171, 160), (282, 178), (349, 181), (420, 172), (450, 150),
                                  (471, 123), (493, 73), (527, 84), (545, 128), (562, 140), (567, 165), (552, 192), (572, 250),
                                  (590, 262), (612, 262), (640, 285), (652, 305), (672, 330), (682, 375), (672, 420), (645, 450),
                                  (600, 458), (555, 445), (522, 415), (506, 370), (512, 318), (548, 292), (536, 250), (518, 200),
                                  (500, 215), (488, 260), (488, 300), (490, 345), (430, 352), (370, 362), (300, 368), (262, 372),
                                  (232, 398), (204, 401), (160, 385), (127, 340), (125, 290), (143, 257), (93, 223)]),
    # the cup and saucer (coffee.png)
    "cup": ("coffee", [(175, 140), (230, 60), (330, 45), (400, 70), (425, 130), (420, 215), (400, 290), (330, 322),
                       (240, 318), (185, 280), (168, 210)]),
}


def package_file(package: str, rel: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"make_samples: the Python package '{package}' is not installed (pip install "
                         f"{'scikit-image' if package == 'skimage' else package})")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise SystemExit(f"make_samples: {path} is missing from the installed '{package}' package")
    return path


# ---------------------------------------------------------------------------------------------------
# Sprites: photo cut-outs with a soft alpha edge
# ---------------------------------------------------------------------------------------------------
@dataclass
class Sprite:
    bgr: np.ndarray  # uint8 (h, w, 3)
    mask: np.ndarray  # float32 (h, w) 0..1, hard-ish edge (feathered after scaling)
    anchor: tuple[float, float]  # (x, y): where it stands (bottom centre) or is hung from
    ref: float  # reference length in sprite pixels (a person's height, a vehicle's length)
    head_y: float = 0.0  # first row of the cut-out (top of the head)
    _cache: dict = field(default_factory=dict, repr=False)

    def scaled(self, scale: float, feather: float = 1.1) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(bgr float32, alpha float32, anchor x, anchor y) at `scale`, alpha feathered at the output size."""
        key = round(scale * 400)
        hit = self._cache.get(key)
        if hit is None:
            import cv2

            s = key / 400
            h, w = self.mask.shape
            size = (max(2, round(w * s)), max(2, round(h * s)))
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            bgr = cv2.resize(self.bgr, size, interpolation=interp).astype(np.float32)
            alpha = cv2.resize(self.mask, size, interpolation=interp)
            alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
            hit = (bgr, alpha, self.anchor[0] * size[0] / w, self.anchor[1] * size[1] / h)
            if len(self._cache) > 300:
                self._cache.clear()
            self._cache[key] = hit
        return hit


def cutout(name: str) -> Sprite:
    """Cut one outlined thing out of its photograph: outline -> GrabCut band -> largest blob."""
    import cv2

    src, outline = OUTLINES[name]
    image = cv2.imread(str(package_file(*SOURCES[src])), cv2.IMREAD_COLOR)
    poly = np.array(outline, np.int32)
    x, y, w, h = cv2.boundingRect(poly)
    pad = 14
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(image.shape[1], x + w + pad), min(image.shape[0], y + h + pad)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    inside = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inside, [poly - (x0, y0)], 255)
    gc = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    gc[cv2.dilate(inside, np.ones((15, 15), np.uint8)) > 0] = cv2.GC_PR_BGD
    gc[inside > 0] = cv2.GC_PR_FGD
    gc[cv2.erode(inside, np.ones((21, 21), np.uint8)) > 0] = cv2.GC_FGD
    cv2.setRNGSeed(SEED)  # GrabCut initialises its colour models with k-means: keep it deterministic
    cv2.grabCut(crop, gc, None, np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_MASK)
    mask = np.where((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n > 2:
        mask = np.where(labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), 255, 0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # lose the 1-px fringe of the old background
    ys, xs = np.nonzero(mask)
    top, bottom = ys.min(), ys.max()
    feet = xs[ys >= bottom - max(3, (bottom - top) // 25)]
    anchor = (float(feet.mean()), float(bottom))
    ref = float(xs.max() - xs.min()) if name == "motorcycle" else float(bottom - top)
    return Sprite(crop, mask.astype(np.float32) / 255.0, anchor, ref, float(top))


def grade(sprite: Sprite, gain: float, tint: tuple[float, float, float], saturation: float = 0.85) -> Sprite:
    """Match a photo's colours to the drawn scene a little (less saturated, scene tint and level)."""
    f = sprite.bgr.astype(np.float32)
    grey = f.mean(axis=2, keepdims=True)
    f = (grey + (f - grey) * saturation) * gain * np.array(tint, np.float32)
    return Sprite(np.clip(f, 0, 255).astype(np.uint8), sprite.mask, sprite.anchor, sprite.ref, sprite.head_y)


def extend_down(sprite: Sprite, extra: float) -> Sprite:
    """Repeat the bottom rows of a head-and-torso cut-out (hidden behind a desk anyway) so the person can
    stand up a little without showing where the photograph ends."""
    h = sprite.mask.shape[0]
    n = int(h * extra)
    bgr = np.concatenate([sprite.bgr, np.repeat(sprite.bgr[-1:], n, axis=0)], axis=0)
    mask = np.concatenate([sprite.mask, np.repeat(sprite.mask[-1:], n, axis=0)], axis=0)
    return Sprite(bgr, mask, sprite.anchor, sprite.ref, sprite.head_y)


def paste(frame: np.ndarray, bgr: np.ndarray, alpha: np.ndarray, x: float, y: float, opacity: float = 1.0) -> None:
    """Alpha-blend `bgr` into float32 `frame` with its top-left corner at (x, y) (clipped to the frame)."""
    x, y = int(round(x)), int(round(y))
    h, w = alpha.shape
    fx0, fy0, fx1, fy1 = max(0, x), max(0, y), min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    a = alpha[fy0 - y:fy1 - y, fx0 - x:fx1 - x, None]
    if opacity < 1.0:
        a = a * opacity
    roi = frame[fy0:fy1, fx0:fx1]
    roi += (bgr[fy0 - y:fy1 - y, fx0 - x:fx1 - x] - roi) * a


def soft_shadow(frame: np.ndarray, cx: float, cy: float, rx: float, ry: float, strength: float = 0.35) -> None:
    import cv2

    pad = int(max(rx, ry) * 0.6) + 4
    w, h = int(2 * rx + 2 * pad), int(2 * ry + 2 * pad)
    if w < 3 or h < 3:
        return
    m = np.zeros((h, w), np.float32)
    cv2.ellipse(m, (w // 2, h // 2), (max(1, int(rx)), max(1, int(ry))), 0, 0, 360, 1.0, -1)
    m = cv2.GaussianBlur(m, (0, 0), max(1.0, ry * 0.6)) * strength
    paste(frame, np.zeros((h, w, 3), np.float32), m, cx - w / 2, cy - h / 2)


def smooth_wobble(rng: np.random.Generator, n: int = 3, base_hz: float = 0.15) -> Callable[[float], float]:
    """A smooth, deterministic random signal in about [-1, 1] (sum of slow sines)."""
    freqs = base_hz * (1.0 + rng.random(n) * 2.5)
    phases = rng.random(n) * 2 * math.pi
    amps = 0.5 + rng.random(n)
    amps /= amps.sum()

    def f(t: float) -> float:
        return float(np.sum(amps * np.sin(2 * math.pi * freqs * t + phases)))

    return f


# ---------------------------------------------------------------------------------------------------
# CCTV look: noise, flicker, burned-in clock and camera name
# ---------------------------------------------------------------------------------------------------
class Cctv:
    def __init__(self, rng: np.random.Generator, label: str, noise: float = 2.6):
        self.rng = rng
        self.label = label
        luma = rng.normal(0.0, noise, (2 * H, 2 * W, 1)).astype(np.float32)
        chroma = rng.normal(0.0, noise * 0.45, (2 * H, 2 * W, 3)).astype(np.float32)
        self.bank = luma + chroma
        self.flicker = smooth_wobble(rng, 3, 0.4)
        import cv2

        self.label_w = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]

    def finish(self, frame: np.ndarray, t: float) -> np.ndarray:
        import cv2

        frame = cv2.GaussianBlur(frame, (3, 3), 0.6)  # lens and sensor softness blends the pasted edges
        gain = 1.0 + 0.009 * self.flicker(t) + float(self.rng.normal(0.0, 0.003))
        ox, oy = int(self.rng.integers(0, W)), int(self.rng.integers(0, H))
        frame = frame * gain + self.bank[oy:oy + H, ox:ox + W]
        out = np.clip(frame, 0, 255).astype(np.uint8)
        stamp = (CLOCK0 + timedelta(seconds=int(t))).strftime("%Y-%m-%d %H:%M:%S")
        for text, org in ((stamp, (10, 22)), (self.label, (W - 10 - self.label_w, H - 12))):
            # a drop shadow, not a thick outline: OpenCV 5 draws thicker text wider
            for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
                cv2.putText(out, text, (org[0] + dx, org[1] + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (25, 25, 25), 1, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
        return out


def texture(rng: np.random.Generator, shape: tuple[int, int], base: tuple[int, int, int], grain: float,
            blotch: float = 0.0, blotch_px: float = 40.0) -> np.ndarray:
    """float32 BGR texture: base colour + fine grain + large soft blotches."""
    import cv2

    h, w = shape
    t = np.empty((h, w, 3), np.float32)
    t[:] = base
    t += rng.normal(0.0, grain, (h, w, 1)).astype(np.float32)
    if blotch:
        b = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
        b = cv2.GaussianBlur(b, (0, 0), blotch_px)
        b *= blotch / max(float(b.std()), 1e-6)
        t += b[..., None]
    return t


def warp_onto(canvas: np.ndarray, tex: np.ndarray, quad: np.ndarray) -> None:
    """Paint a texture onto the image quadrilateral `quad` (tex corners TL, TR, BR, BL -> quad)."""
    import cv2

    h, w = tex.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    m = cv2.getPerspectiveTransform(src, np.float32(quad))
    warped = cv2.warpPerspective(tex, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad).astype(np.int32), 1, lineType=cv2.LINE_AA)
    np.copyto(canvas, warped, where=inside[..., None] > 0)


def exit_sign(width_px: int, height_px: int, arrow: str = "left") -> np.ndarray:
    """A green emergency-exit sign: white running-man-ish pictogram, arrow and EXIT."""
    import cv2

    s = np.empty((height_px, width_px, 3), np.uint8)  # putText draws on 8-bit pictures only
    s[:] = (70, 165, 35)
    cv2.rectangle(s, (1, 1), (width_px - 2, height_px - 2), (235, 245, 235), max(1, height_px // 14))
    th = max(1, height_px // 10)
    # pictogram: a person leaning into a doorway
    hx, hy = int(height_px * 0.42), int(height_px * 0.26)
    cv2.circle(s, (hx, hy), max(2, height_px // 9), (245, 250, 245), -1)
    cv2.line(s, (hx - 2, hy + height_px // 8), (hx - height_px // 6, int(height_px * 0.72)), (245, 250, 245), th + 1)
    cv2.line(s, (hx - height_px // 6, int(height_px * 0.72)), (hx - height_px // 12, int(height_px * 0.86)), (245, 250, 245), th)
    cv2.line(s, (hx - height_px // 6, int(height_px * 0.72)), (hx - height_px // 3, int(height_px * 0.84)), (245, 250, 245), th)
    ax0, ax1, ay = int(width_px * 0.30), int(width_px * 0.44), height_px // 2
    if arrow == "left":
        ax0, ax1 = ax1, ax0
    cv2.arrowedLine(s, (ax0, ay), (ax1, ay), (245, 250, 245), th + 1, tipLength=0.45)
    scale = height_px / 42.0
    cv2.putText(s, "EXIT", (int(width_px * 0.50), int(height_px * 0.68)), cv2.FONT_HERSHEY_DUPLEX, scale,
                (245, 250, 245), max(1, int(round(scale * 1.6))), cv2.LINE_AA)
    return s.astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Scene 1: corridor with an emergency exit at the far end
# ---------------------------------------------------------------------------------------------------
class Corridor:
    """A pinhole view down a corridor. World: X across (m, 0 = corridor centre), Y up from the floor,
    Z away from the camera. The exit door is in the end wall."""

    f, cx, cy = 420.0, 320.0, 72.0  # focal length (px) and principal point (horizon at v = cy)
    cam_x, cam_h = -0.25, 2.55  # camera mount: a little left of centre, under the ceiling
    half, ceiling, z_near, z_end = 1.2, 2.8, 1.0, 7.5
    door_left = (5.4, 6.4)  # side door (opening) on the left wall, Z range
    door_right = (3.8, 4.7)  # side door on the right wall
    zone_z = (4.15, 7.5)  # the exit zone: corridor floor in front of the exit door
    px_per_m = 160  # texture resolution

    def uv(self, x: float, y: float, z: float) -> tuple[float, float]:
        return self.cx + self.f * (x - self.cam_x) / z, self.cy + self.f * (self.cam_h - y) / z

    def ppm(self, z: float) -> float:
        return self.f / z

    def quad(self, pts: list[tuple[float, float, float]]) -> np.ndarray:
        return np.float32([self.uv(*p) for p in pts])

    def exit_zone(self) -> list[tuple[float, float]]:
        z0, z1 = self.zone_z
        pts = [self.uv(-self.half, 0, z1), self.uv(self.half, 0, z1), self.uv(self.half, 0, z0), self.uv(-self.half, 0, z0)]
        return [(round(min(max(u / W, 0.0), 1.0), 3), round(min(max(v / H, 0.0), 1.0), 3)) for u, v in pts]

    # -- static picture -------------------------------------------------------------------------------
    def background(self, rng: np.random.Generator) -> np.ndarray:
        import cv2

        k = self.px_per_m
        img = np.zeros((H, W, 3), np.float32)
        L = self.z_end - self.z_near
        # floor: 0.6 m vinyl tiles, terrazzo grain, sheen under the ceiling lights
        fw, fl = int(2 * self.half * k), int(L * k)
        floor = texture(rng, (fl, fw), (168, 173, 172), 4.0, 3.0, 25)
        tile = int(0.6 * k)
        for i in range(0, fl // tile + 1):
            for j in range(0, fw // tile + 1):
                floor[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] += float(rng.normal(0, 2.5))
        for i in range(0, fl, tile):
            floor[i:i + 2] *= 0.8
        for j in range(int(self.half * k) % tile, fw, tile):
            floor[:, j:j + 2] *= 0.8
        zz = self.z_end - (np.arange(fl) / k)  # row 0 is the far end
        xx = np.arange(fw) / k - self.half
        sheen = np.exp(-((xx[None, :] + 0.0) ** 2) / 0.35) * (0.5 + 0.5 * np.cos(zz[:, None] * 2 * math.pi / 2.0) ** 8)
        floor += (14 * sheen)[..., None]
        floor[:, :int(0.08 * k)] *= 0.85
        floor[:, -int(0.08 * k):] *= 0.85
        warp_onto(img, floor, self.quad([(-self.half, 0, self.z_end), (self.half, 0, self.z_end),
                                         (self.half, 0, self.z_near), (-self.half, 0, self.z_near)]))
        # ceiling: acoustic tiles with light panels
        cl = texture(rng, (fl, fw), (206, 209, 210), 2.0)
        for i in range(0, fl, tile):
            cl[i:i + 2] *= 0.9
        for lz in (2.3, 4.3, 6.3):
            r0, r1 = int((self.z_end - lz - 0.6) * k), int((self.z_end - lz + 0.6) * k)
            c0, c1 = int((self.half - 0.3) * k), int((self.half + 0.3) * k)
            cl[max(0, r0):max(0, r1), c0:c1] = (246, 250, 250)
        warp_onto(img, cl, self.quad([(-self.half, self.ceiling, self.z_end), (self.half, self.ceiling, self.z_end),
                                      (self.half, self.ceiling, self.z_near), (-self.half, self.ceiling, self.z_near)]))
        # side walls (texture x = Z from far to near, y = height from the ceiling down)
        for side, door, shade in ((-1, self.door_left, 0.93), (1, self.door_right, 0.97)):
            wall = self._wall(rng, fl, door, shade)
            xw = side * self.half
            quad = self.quad([(xw, self.ceiling, self.z_end), (xw, self.ceiling, self.z_near),
                              (xw, 0, self.z_near), (xw, 0, self.z_end)])
            warp_onto(img, wall, quad)
        # end wall with the emergency exit (texture x = X, y = height from the ceiling down)
        warp_onto(img, self._end_wall(rng), self.quad([(-self.half, self.ceiling, self.z_end), (self.half, self.ceiling, self.z_end),
                                                       (self.half, 0, self.z_end), (-self.half, 0, self.z_end)]))
        # light falls off towards the far end and the corners (vignette)
        yy, xx2 = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((xx2 - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        img *= (1.0 - 0.16 * r2)[..., None]
        return np.clip(img, 0, 255)

    def _wall(self, rng: np.random.Generator, length: int, door: tuple[float, float], shade: float) -> np.ndarray:
        import cv2

        k = self.px_per_m
        hgt = int(self.ceiling * k)
        wall = texture(rng, (hgt, length), (196, 214, 226), 1.6, 2.0, 30)  # cream paint
        y_dado = int((self.ceiling - 1.0) * k)
        wall[y_dado:] = texture(rng, (hgt - y_dado, length), (168, 196, 176), 1.6, 2.0, 30)  # pale green dado
        wall[y_dado:y_dado + 3] *= 0.85
        wall[int((self.ceiling - 0.1) * k):] = (92, 98, 100)  # skirting
        rail0, rail1 = int((self.ceiling - 0.92) * k), int((self.ceiling - 0.85) * k)
        wall[rail0:rail1] = (70, 118, 160)  # wooden handrail for the residents
        wall[rail0:rail0 + 2] = (110, 160, 200)
        wall[rail1 - 2:rail1] = (45, 80, 110)
        # the side door: an open doorway into a darker room, with a white frame
        c0, c1 = int((self.z_end - door[1]) * k), int((self.z_end - door[0]) * k)
        top = int((self.ceiling - 2.1) * k)
        wall[top - 8:, c0 - 8:c1 + 8] = (206, 208, 206)
        grad = np.linspace(0.8, 1.15, hgt - top, dtype=np.float32)[:, None, None]
        wall[top:, c0:c1] = np.array((62, 70, 78), np.float32) * grad
        plate = (c1 + 18, top + 40)
        cv2.rectangle(wall, plate, (plate[0] + 40, plate[1] + 22), (150, 120, 60), -1)
        cv2.rectangle(wall, (plate[0] + 5, plate[1] + 8), (plate[0] + 35, plate[1] + 13), (230, 230, 230), -1)
        return wall * shade

    def _end_wall(self, rng: np.random.Generator) -> np.ndarray:
        import cv2

        k = self.px_per_m
        hgt, wid = int(self.ceiling * k), int(2 * self.half * k)
        wall = texture(rng, (hgt, wid), (192, 210, 222), 1.5, 1.5, 30)
        y_dado = int((self.ceiling - 1.0) * k)
        wall[y_dado:] = texture(rng, (hgt - y_dado, wid), (164, 192, 172), 1.5, 1.5, 30)
        wall[int((self.ceiling - 0.1) * k):] = (92, 98, 100)
        # double steel exit door, 1.4 m x 2.1 m, push bars, wired-glass vision panels
        d0, d1 = int((self.half - 0.6) * k), int((self.half + 0.8) * k)
        top = int((self.ceiling - 2.1) * k)
        wall[top - 10:, d0 - 10:d1 + 10] = (96, 104, 100)
        door = texture(rng, (hgt - top, d1 - d0), (112, 128, 116), 1.2)
        mid = (d1 - d0) // 2
        door[:, mid - 2:mid + 2] = (70, 78, 72)
        for leaf in (0, mid):
            gx0, gx1 = leaf + int(0.2 * k), leaf + int(0.5 * k)
            gy0, gy1 = int(0.3 * k), int(0.8 * k)
            door[gy0:gy1, gx0:gx1] = (88, 96, 92)
            for gy in range(gy0, gy1, 8):
                door[gy:gy + 1, gx0:gx1] = (120, 126, 122)
            by = int(1.1 * k)
            door[by:by + 8, leaf + 12:leaf + mid - 12] = (190, 192, 194)
            door[by + 8:by + 10, leaf + 12:leaf + mid - 12] = (80, 84, 84)
        wall[top:, d0:d1] = door
        # the exit sign above the door
        sw, sh = int(0.7 * k), int(0.25 * k)
        sx, sy = (d0 + d1) // 2 - sw // 2, top - 18 - sh
        wall[sy:sy + sh, sx:sx + sw] = exit_sign(sw, sh, arrow="left")
        # a floor plan / evacuation map frame to the left of the door
        cv2.rectangle(wall, (int(0.15 * k), int(0.9 * k)), (int(0.45 * k), int(1.3 * k)), (228, 236, 240), -1)
        cv2.rectangle(wall, (int(0.15 * k), int(0.9 * k)), (int(0.45 * k), int(1.3 * k)), (60, 60, 60), 2)
        return wall

    # -- things placed on the floor --------------------------------------------------------------------
    def boxes_layer(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """A stack of plain cardboard boxes standing in front of the exit: (bgr, alpha, front Z)."""
        import cv2

        layer = np.zeros((H, W, 3), np.float32)
        alpha = np.zeros((H, W), np.float32)
        # (x0, x1, y0, y1, z0, z1): boxes on the floor and stacked on top of each other
        boxes = [
            (-1.12, -0.50, 0.00, 0.55, 4.95, 5.45),
            (-0.48, 0.12, 0.00, 0.50, 4.80, 5.30),
            (0.14, 0.62, 0.00, 0.45, 4.85, 5.30),
            (-1.05, -0.42, 0.55, 1.00, 5.00, 5.40),
            (-0.44, 0.10, 0.50, 0.92, 4.88, 5.25),
            (0.16, 0.58, 0.45, 0.80, 4.92, 5.25),
            (-0.80, -0.20, 1.00, 1.32, 5.05, 5.40),
        ]
        boxes.sort(key=lambda b: (-b[5], b[2]))  # far first, then bottom up
        for x0, x1, y0, y1, z0, z1 in boxes:
            tone = float(rng.uniform(0.88, 1.08))
            front = np.array((58, 104, 146), np.float32) * tone
            top = np.array((82, 132, 170), np.float32) * tone
            side = np.array((46, 86, 124), np.float32) * tone
            faces = []
            faces.append((self.quad([(x0, y1, z1), (x1, y1, z1), (x1, y1, z0), (x0, y1, z0)]), top))
            if self.cam_x < x0:
                faces.append((self.quad([(x0, y1, z1), (x0, y1, z0), (x0, y0, z0), (x0, y0, z1)]), side))
            if self.cam_x > x1:
                faces.append((self.quad([(x1, y1, z0), (x1, y1, z1), (x1, y0, z1), (x1, y0, z0)]), side))
            faces.append((self.quad([(x0, y1, z0), (x1, y1, z0), (x1, y0, z0), (x0, y0, z0)]), front))
            for quad, colour in faces:
                q = np.round(quad).astype(np.int32)
                m = np.zeros((H, W), np.uint8)
                cv2.fillConvexPoly(m, q, 1, lineType=cv2.LINE_AA)
                layer[m > 0] = colour
                alpha[m > 0] = 1.0
                cv2.polylines(layer, [q], True, tuple(float(c) * 0.7 for c in colour), 1, cv2.LINE_AA)
            # packing tape: along the top's middle and down the front
            xm = (x0 + x1) / 2
            tw = 0.035
            tape = (150, 178, 196)
            cv2.fillConvexPoly(layer, np.round(self.quad([(xm - tw, y1, z1), (xm + tw, y1, z1), (xm + tw, y1, z0), (xm - tw, y1, z0)])).astype(np.int32), tape, cv2.LINE_AA)
            cv2.fillConvexPoly(layer, np.round(self.quad([(xm - tw, y1, z0), (xm + tw, y1, z0), (xm + tw, y1 - 0.12, z0), (xm - tw, y1 - 0.12, z0)])).astype(np.int32), tape, cv2.LINE_AA)
            # a printed handling mark (two arrows) on the front
            ux, uy = self.uv(x0 + 0.08, y0 + (y1 - y0) * 0.55, z0)
            s = self.ppm(z0) * 0.05
            for dx in (0, 1.4):
                p = (int(ux + dx * s), int(uy))
                cv2.arrowedLine(layer, (p[0], p[1] + int(s)), (p[0], p[1] - int(s)), (40, 50, 60), 1, cv2.LINE_AA, tipLength=0.5)
        grain = rng.normal(0.0, 4.0, (H, W, 1)).astype(np.float32)
        layer = np.where(alpha[..., None] > 0, layer + grain, layer)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6)
        return layer, alpha, 4.8

    def bbox(self, x0: float, x1: float, y1: float, z0: float, z1: float) -> tuple[float, float, float, float]:
        pts = [self.uv(x, y, z) for x in (x0, x1) for y in (0.0, y1) for z in (z0, z1)]
        us, vs = [p[0] for p in pts], [p[1] for p in pts]
        return min(us), min(vs), max(us), max(vs)


@dataclass
class Walker:
    """A person walking along waypoints (t, X, Z); fades in/out at doors."""

    sprite: Sprite
    path: list[tuple[float, float, float]]
    height_m: float = 1.72
    fade_in: float = 0.0
    fade_out: float = 0.0
    stride_hz: float = 1.8

    def state(self, t: float) -> tuple[float, float, float] | None:
        """(X, Z, opacity) at time t, or None when the person is not in the picture."""
        p = self.path
        if t < p[0][0] or t > p[-1][0]:
            return None
        for (t0, x0, z0), (t1, x1, z1) in zip(p, p[1:]):
            if t0 <= t <= t1:
                a = (t - t0) / max(t1 - t0, 1e-6)
                x, z = x0 + (x1 - x0) * a, z0 + (z1 - z0) * a
                break
        op = 1.0
        if self.fade_in:
            op = min(op, (t - p[0][0]) / self.fade_in)
        if self.fade_out:
            op = min(op, (p[-1][0] - t) / self.fade_out)
        return x, z, max(0.0, min(1.0, op))

    def moving(self, t: float) -> bool:
        p = self.path
        for (t0, x0, z0), (t1, x1, z1) in zip(p, p[1:]):
            if t0 <= t <= t1:
                return abs(x1 - x0) + abs(z1 - z0) > 1e-6
        return False

    def draw(self, frame: np.ndarray, scene: Corridor, t: float) -> None:
        st = self.state(t)
        if st is None or st[2] <= 0.0:
            return
        x, z, op = st
        ppm = scene.ppm(z)
        walking = self.moving(t)
        bob = abs(math.sin(math.pi * self.stride_hz * t)) * 0.03 * ppm if walking else 0.0
        sway = math.sin(math.pi * self.stride_hz * t) * (0.025 if walking else 0.006) * ppm
        u, v = scene.uv(x, 0.0, z)
        scale = self.height_m * ppm / self.sprite.ref
        bgr, alpha, ax, ay = self.sprite.scaled(scale)
        soft_shadow(frame, u, v, 0.28 * ppm, 0.07 * ppm, 0.3 * op)
        paste(frame, bgr, alpha, u + sway - ax, v - bob - ay, op)


# ---------------------------------------------------------------------------------------------------
# Scene 2: fire-control room (operators behind a long console desk)
# ---------------------------------------------------------------------------------------------------
class ControlRoom:
    wall_floor_y = 250  # where the back wall meets the floor
    desk_top = (226, 246)  # desk top surface rows
    desk_front = (246, 336)
    seats = {"operator_astronaut": (205.0, 84.0, 0.30), "operator_suit": (452.0, 66.0, 0.235)}  # x centre, head top y, scale
    zone = [(0.0, 0.14), (1.0, 0.14), (1.0, 0.98), (0.0, 0.98)]  # the duty area: the room below the ceiling line

    def background(self, rng: np.random.Generator, corridor_thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(picture, desk mask): the desk is drawn again over the people sitting behind it."""
        import cv2

        img = np.zeros((H, W, 3), np.float32)
        # back wall and floor
        img[:] = texture(rng, (H, W), (204, 206, 196), 1.5, 2.0, 40)
        img[:30] = texture(rng, (30, W), (222, 224, 222), 1.0)  # ceiling strip
        img[28:30] = (150, 150, 150)
        floor = texture(rng, (H - self.wall_floor_y, W), (140, 132, 120), 3.0, 3.0, 20)
        img[self.wall_floor_y:] = floor
        for k in range(-12, 13):  # floor tile seams converging upwards
            x_far, x_near = W / 2 + k * 52, W / 2 + k * 110
            cv2.line(img, (int(x_far), self.wall_floor_y), (int(x_near), H), (118, 112, 102), 1, cv2.LINE_AA)
        for y in (270, 296, 330):
            cv2.line(img, (0, y), (W, y), (118, 112, 102), 1, cv2.LINE_AA)
        img[self.wall_floor_y - 6:self.wall_floor_y] = (110, 112, 110)  # skirting
        # left side wall in perspective with the monitor wall (3 x 2 screens showing corridor views)
        side = np.float32([[0, 0], [78, 30], [78, self.wall_floor_y], [0, H]])
        cv2.fillConvexPoly(img, np.round(side).astype(np.int32), (182, 186, 178), cv2.LINE_AA)
        for r in range(2):
            for c in range(3):
                v0, v1 = 70 + r * 62, 126 + r * 62
                ua, ub = 8 + c * 24, 28 + c * 24
                def yv(u: float, v: float) -> float:  # perspective on the side wall: rows fan out to the left
                    return v + (v - 150) * (78 - u) / 78 * 0.45
                quad = np.float32([[ua, yv(ua, v0)], [ub, yv(ub, v0)], [ub, yv(ub, v1)], [ua, yv(ua, v1)]])
                cv2.fillConvexPoly(img, np.round(quad).astype(np.int32), (40, 40, 40), cv2.LINE_AA)
                thumb = cv2.resize(corridor_thumb, (64, 36), interpolation=cv2.INTER_AREA)
                thumb = thumb * np.array((1.05, 0.95, 0.85), np.float32) * (0.75 + 0.1 * c)
                inner = quad + np.float32([[2, 2], [-2, 2], [-2, -2], [2, -2]])
                warp_tmp = np.zeros_like(img)
                m = cv2.getPerspectiveTransform(np.float32([[0, 0], [63, 0], [63, 35], [0, 35]]), inner)
                warp_tmp = cv2.warpPerspective(thumb.astype(np.float32), m, (W, H))
                msk = np.zeros((H, W), np.uint8)
                cv2.fillConvexPoly(msk, np.round(inner).astype(np.int32), 1)
                np.copyto(img, warp_tmp, where=msk[..., None] > 0)
        # fire alarm control panel (cream cabinet, display, LED rows) on the back wall, right
        cv2.rectangle(img, (520, 52), (616, 196), (196, 214, 222), -1)
        cv2.rectangle(img, (520, 52), (616, 196), (120, 130, 130), 2)
        cv2.rectangle(img, (532, 64), (604, 92), (70, 90, 60), -1)  # LCD
        for i in range(8):
            for j in range(4):
                colour = (40, 170, 40) if (i + j) % 5 else (40, 60, 200)
                cv2.circle(img, (536 + i * 9, 108 + j * 12), 2, colour, -1, cv2.LINE_AA)
        cv2.rectangle(img, (532, 160), (604, 184), (140, 150, 150), -1)
        # room sign and a duty roster board
        plate = np.empty((22, 126, 3), np.uint8)
        plate[:] = (120, 60, 20)
        cv2.putText(plate, "FIRE CONTROL ROOM", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 235, 235), 1, cv2.LINE_AA)
        img[40:62, 262:388] = plate
        cv2.rectangle(img, (112, 50), (220, 118), (236, 238, 238), -1)
        cv2.rectangle(img, (112, 50), (220, 118), (90, 90, 90), 2)
        for y in range(62, 112, 9):
            cv2.line(img, (120, y), (212, y), (150, 150, 150), 1)
        cv2.circle(img, (470, 78), 15, (236, 238, 238), -1, cv2.LINE_AA)  # wall clock
        cv2.circle(img, (470, 78), 15, (60, 60, 60), 2, cv2.LINE_AA)
        cv2.line(img, (470, 78), (470, 68), (30, 30, 30), 2, cv2.LINE_AA)
        cv2.line(img, (470, 78), (477, 81), (30, 30, 30), 2, cv2.LINE_AA)
        # the operators' chair backs (seen again when the chairs are empty)
        for cx, _, _ in self.seats.values():
            cv2.rectangle(img, (int(cx - 38), 150), (int(cx + 38), 232), (58, 58, 62), -1, cv2.LINE_AA)
            cv2.rectangle(img, (int(cx - 38), 150), (int(cx + 38), 232), (40, 40, 44), 2, cv2.LINE_AA)
        # the long console desk (spans the room, so the people's legs are never seen)
        desk = np.zeros((H, W), np.uint8)
        t0, t1 = self.desk_top
        f0, f1 = self.desk_front
        top_quad = np.int32([[-40, t0], [W + 40, t0], [W + 40, t1], [-40, t1]])
        cv2.fillConvexPoly(img, top_quad, (178, 184, 186), cv2.LINE_AA)
        cv2.fillConvexPoly(desk, top_quad, 1)
        img[t0:t0 + 2] = (205, 210, 212)
        img[f0:f1] = texture(rng, (f1 - f0, W), (112, 118, 122), 2.0)
        desk[f0:f1] = 1
        for x in range(40, W, 150):
            img[f0:f1, x:x + 2] = (80, 84, 86)
        img[f1 - 4:f1] = (70, 72, 74)
        # things on the desk: keyboards, a phone, a logbook
        for x0, x1 in ((160, 250), (404, 494)):
            cv2.rectangle(img, (x0, t0 + 6), (x1, t1 - 4), (62, 62, 64), -1, cv2.LINE_AA)
            cv2.rectangle(img, (x0 + 2, t0 + 8), (x1 - 2, t1 - 7), (84, 84, 86), 1)
        cv2.rectangle(img, (560, t0 + 4), (590, t1 - 3), (40, 40, 180), -1, cv2.LINE_AA)
        cv2.rectangle(img, (90, t0 + 5), (132, t1 - 3), (230, 232, 232), -1, cv2.LINE_AA)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        img *= (1.0 - 0.14 * r2)[..., None]
        return np.clip(img, 0, 255), desk


@dataclass
class Operator:
    """A person behind the desk: sits (alive: sways, leans), may stand up and walk out sideways."""

    sprite: Sprite
    x: float
    head_y: float
    scale: float
    wobble_x: Callable[[float], float]
    wobble_y: Callable[[float], float]
    leave_at: float | None = None  # starts standing up
    exit_dir: int = -1  # walks out to the left (-1) or right (+1)

    def draw(self, frame: np.ndarray, t: float) -> None:
        x, y = self.x + 3.0 * self.wobble_x(t), self.head_y + 1.5 * self.wobble_y(t)
        if self.leave_at is not None and t >= self.leave_at:
            dt = t - self.leave_at
            y -= 26.0 * min(1.0, dt / 0.8)  # stands up
            if dt > 0.8:
                walk = dt - 0.8
                x += self.exit_dir * 185.0 * walk  # walks out behind the desk
                y += abs(math.sin(math.pi * 1.8 * walk)) * 3.0
            if x < -150 or x > W + 150:
                return
        bgr, alpha, _, _ = self.sprite.scaled(self.scale)
        paste(frame, bgr, alpha, x - bgr.shape[1] / 2, y - self.sprite.head_y * self.scale)


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
        h.update(Path(__file__).read_bytes())
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
# Verification: detector statistics and a replay through the vigil pipeline
# ---------------------------------------------------------------------------------------------------
BLOCKING = ("chair", "couch", "bed", "dining table", "bench", "bicycle", "motorcycle", "suitcase", "backpack",
            "handbag", "potted plant", "refrigerator", "tv")


def _longest_run(flags: list[bool]) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def verify(out: Path, specs: list[ClipSpec], model_path: str, config_path: Path) -> bool:
    import cv2

    os.environ.setdefault("YOLO_CONFIG_DIR", str(HERE.parent / ".yolo"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    sys.path.insert(0, str(HERE.parent))
    from ultralytics import YOLO

    from vigil.config import load_config
    from vigil.vision.detections import Detections
    from vigil.vision.zones import ZoneGeometry

    cfg = load_config(config_path)
    cams = {Path(c.url).name: c for c in cfg.cameras}
    model = YOLO(model_path, task="detect")
    ok = True
    scene = Corridor()
    drawn_zone = scene.exit_zone()
    for spec in specs:
        path = out / spec.name
        cam = cams.get(spec.name)
        print(f"\n== {spec.name} ({spec.seconds:.0f} s): {spec.about}")
        if cam is None:
            print(f"   FAIL no camera in {config_path.name} plays {spec.name}")
            ok = False
            continue
        zones = {z.name: ZoneGeometry(z.name, z.polygon, W, H) for z in cam.zones}
        if spec.name.startswith("corridor"):
            zpoly = cam.zones[0].polygon
            err = max(abs(a - b) for p, q in zip(zpoly, drawn_zone) for a, b in zip(p, q)) if len(zpoly) == len(drawn_zone) else 1
            print(f"   exit zone in {config_path.name} {'matches' if err < 0.006 else 'DOES NOT match'} the drawn exit area (max diff {err:.3f})")
            ok &= err < 0.006
        # replay through the real pipeline (same zones and rules) with the detections computed here
        pipeline = events = None
        try:
            from vigil.vision.pipeline import CameraPipeline

            class _Sink:
                def __init__(self) -> None:
                    self.log: list[tuple[str, object]] = []

                def started(self, ev, snapshot_jpeg) -> None:
                    self.log.append(("start", ev))

                def updated(self, ev, snapshot_jpeg) -> None:
                    pass

                def ended(self, ev) -> None:
                    self.log.append(("end", ev))

            class _Replay:
                names: dict[int, str] = {}
                current = None

                def detect(self, image):
                    return self.current

            replay, events = _Replay(), _Sink()
            pipeline = CameraPipeline(cam, replay, events)
        except Exception as exc:  # the verification numbers below do not need it
            print(f"   (pipeline replay unavailable: {exc!r})")
        cap = cv2.VideoCapture(str(path))
        rows = []
        i = 0
        t_det = 0.0
        while True:
            okf, frame = cap.read()
            if not okf:
                break
            if i % 5 == 0:
                t = i / FPS
                t1 = time.perf_counter()
                res = model.predict(frame, imgsz=640, conf=0.25, verbose=False)[0]
                t_det += time.perf_counter() - t1
                dets = Detections.from_ultralytics(res)
                row = {"t": t}
                if spec.name.startswith("corridor"):
                    exit_zone = next(iter(zones.values()))
                    bikes = exit_zone.select(dets.of_classes(["motorcycle", "bicycle"]).above(0.35), 0.3)
                    row["bike"] = len(bikes) > 0
                    row["bike_conf"] = bikes.max_confidence()
                    blk = dets.of_classes(BLOCKING).above(0.35)
                    row["blocking"] = blk.class_names
                    row["blocking_in_zone"] = exit_zone.select(blk, 0.3).class_names
                    if spec.name == "corridor_boxes.mp4":
                        bx = scene.bbox(-1.12, 0.62, 1.32, 4.8, 5.45)
                        on = [bool(_overlap_share(b, bx) >= 0.5) for b in blk.xyxy]
                        row["blocking_off_boxes"] = [n for n, o in zip(blk.class_names, on) if not o]
                else:
                    room = next(iter(zones.values()))
                    row["persons"] = len(room.select(dets.of_classes(["person"]).above(0.3), 0.5))
                if pipeline is not None:
                    replay.current = dets
                    pipeline.process(frame, t, CLOCK0 + timedelta(seconds=t))
                    bg = pipeline.background
                    if bg is not None and spec.name.startswith("corridor"):
                        m = bg.stationary_mask(t, 0.0 if t < 1 else _dwell(cam))
                        row["covered"] = next(iter(zones.values())).covered_ratio(m) if m is not None else 0.0
                rows.append(row)
            i += 1
        cap.release()
        print(f"   {i} frames, {len(rows)} sampled (every 5th), detector {1000 * t_det / max(len(rows), 1):.0f} ms/frame")
        ok &= _report(spec, rows)
        if events is not None:
            if not events.log:
                print("   pipeline events: none")
            for kind, ev in events.log:
                t_ev = ev.started_t if kind == "start" else ev.ended_t
                print(f"   pipeline event {kind:5s} t={t_ev:5.1f} s  {ev.rule:16s} zone={ev.zone}  conf={ev.peak_confidence:.2f}  "
                      f"{ev.detail.get('reason', '')}")
            ok &= _check_events(spec, [(k, e) for k, e in events.log])
    print(f"\nverify: {'all targets met' if ok else 'SOME TARGETS MISSED'}")
    return ok


def _dwell(cam) -> float:
    for z in cam.zones:
        for r in z.rules:
            if r.type == "blocked_exit":
                return r.dwell_s
    return 10.0


def _overlap_share(box, region) -> float:
    x0, y0, x1, y1 = box
    ix = max(0.0, min(x1, region[2]) - max(x0, region[0]))
    iy = max(0.0, min(y1, region[3]) - max(y0, region[1]))
    return ix * iy / max((x1 - x0) * (y1 - y0), 1e-6)


def _frac(rows: list[dict], pred) -> float:
    return sum(1 for r in rows if pred(r)) / max(len(rows), 1)


def _target(name: str, value: float, goal: float, at_least: bool = True) -> bool:
    good = value >= goal if at_least else value <= goal
    print(f"   {'PASS' if good else 'FAIL'} {name}: {value:.3f} ({'>=' if at_least else '<='} {goal})")
    return good


def _report(spec: ClipSpec, rows: list[dict]) -> bool:
    ok = True
    n = spec.name
    if n.startswith("corridor"):
        ev = spec.event_t if spec.event_t is not None else spec.seconds
        segs = [("before", [r for r in rows if r["t"] < ev]), ("after", [r for r in rows if r["t"] >= ev])]
        for label, rs in segs:
            if not rs:
                continue
            counts: dict[str, int] = {}
            for r in rs:
                for c in set(r["blocking"]):
                    counts[c] = counts.get(c, 0) + 1
            cov = [r["covered"] for r in rs if "covered" in r]
            print(f"   {label:6s} {rs[0]['t']:4.1f}-{rs[-1]['t']:4.1f} s ({len(rs)} samples): motorcycle/bicycle in exit zone "
                  f"{_frac(rs, lambda r: r['bike']):.2f}; any blocking class {_frac(rs, lambda r: bool(r['blocking'])):.2f} "
                  f"(in zone {_frac(rs, lambda r: bool(r['blocking_in_zone'])):.2f}, longest run {_longest_run([bool(r['blocking_in_zone']) for r in rs])} samples) "
                  f"{counts or ''}" + (f"; stationary cover of zone max {max(cov):.2f}" if cov else ""))
        before, after = segs[0][1], segs[1][1]
        if n == "corridor_motorcycle.mp4":
            ok &= _target("motorcycle in exit zone after 8 s (conf>=0.35)", _frac(after, lambda r: r["bike"]), 0.90)
            confs = [r["bike_conf"] for r in after if r["bike"]]
            if confs:
                print(f"        motorcycle confidence after 8 s: min {min(confs):.2f} mean {np.mean(confs):.2f}")
            ok &= _target("motorcycle in exit zone before 8 s", _frac(before, lambda r: r["bike"]), 0.0, at_least=False)
        elif n == "corridor_boxes.mp4":
            late = [r for r in after if r["t"] >= ev + 11 and "covered" in r]
            if late:
                cov = [r["covered"] for r in late]
                print(f"        stationary-foreground cover of the exit zone from {ev + 11:.0f} s: min {min(cov):.2f} mean {np.mean(cov):.2f}")
                ok &= _target("share of samples from 19 s with cover >= 0.4", _frac(late, lambda r: r["covered"] >= 0.4), 0.9)
            ok &= _target("blocking class away from the boxes (share of samples)",
                          _frac(rows, lambda r: bool(r["blocking_off_boxes"])), 0.05, at_least=False)
            ok &= _target("blocking class in exit zone before 8 s (longest run)",
                          _longest_run([bool(r["blocking_in_zone"]) for r in before]), 2, at_least=False)
        else:
            ok &= _target("blocking class in exit zone (longest run, samples)",
                          _longest_run([bool(r["blocking_in_zone"]) for r in rows]), 2, at_least=False)
            ok &= _target("blocking class anywhere (share of samples)", _frac(rows, lambda r: bool(r["blocking"])), 0.05, at_least=False)
            cov = [r["covered"] for r in rows if "covered" in r]
            if cov:
                ok &= _target("max stationary-foreground cover of exit zone", max(cov), 0.4, at_least=False)
    else:
        if n == "control_room.mp4":
            segs = [("0-15 s", 0, 15), ("15-17 s", 15, 17), ("17-60 s", 17, spec.seconds + 1)]
        else:
            segs = [("all", 0, spec.seconds + 1)]
        parts = {}
        for label, a, b in segs:
            rs = [r for r in rows if a <= r["t"] < b]
            parts[label] = rs
            ps = [r["persons"] for r in rs]
            print(f"   {label:8s} ({len(rs)} samples): persons in room zone min {min(ps)} mean {np.mean(ps):.2f} max {max(ps)}; "
                  f">=2 in {_frac(rs, lambda r: r['persons'] >= 2):.2f}, 0 in {_frac(rs, lambda r: r['persons'] == 0):.2f}")
        if n == "control_room.mp4":
            ok &= _target("0-15 s: >= 2 persons", _frac(parts["0-15 s"], lambda r: r["persons"] >= 2), 0.90)
            ok &= _target("after 17 s: 0 persons", _frac(parts["17-60 s"], lambda r: r["persons"] == 0), 0.95)
        else:
            ok &= _target(">= 2 persons all the time", _frac(parts["all"], lambda r: r["persons"] >= 2), 0.95)
    return ok


def _check_events(spec: ClipSpec, log: list) -> bool:
    starts = [(e.rule, e.started_t) for k, e in log if k == "start"]
    rules = {r for r, _ in starts}
    want = {"corridor_motorcycle.mp4": {"ebike_indoor", "blocked_exit"}, "corridor_boxes.mp4": {"blocked_exit"},
            "control_room.mp4": {"unattended_room"}}.get(spec.name, set())
    good = rules == want
    print(f"   {'PASS' if good else 'FAIL'} pipeline events: {sorted(rules) or 'none'} (expected {sorted(want) or 'none'})")
    early = [r for r, t in starts if spec.event_t is not None and t < spec.event_t]
    if early:
        print(f"   FAIL events before the scripted event at {spec.event_t} s: {early}")
        good = False
    return good


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

        return 0 if verify(args.out, specs, str(resolve_model(args.model)), args.config) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
