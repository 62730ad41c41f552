"""Photo cut-outs and the CCTV look for the demo clips (used by make_samples.py).

Constants shared by the clip generator live here: frame size, rate, seed, and the clock burned into the picture.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import numpy as np

W, H, FPS = 640, 360, 10
SEED = 20240518
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


