"""Evidence images: the zone and the boxes that caused an event, drawn on the frame.

Text (the title strip and the box labels) is drawn with a CJK font through Pillow, so that Chinese camera and
zone names come out as glyphs: OpenCV's Hershey fonts have none and print `?`. Only the small text regions
go through Pillow (as an 8-bit coverage mask blended into the frame), never the whole frame. Without a CJK
font (see `cjk_font_path`) the old Hershey drawing is used and the log says so once."""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from functools import lru_cache

import cv2
import numpy as np

from vigil.vision.detections import Detections
from vigil.vision.vocabulary import zh_name

log = logging.getLogger("vigil.vision")

RULE_COLOURS = {
    "blocked_exit": (0, 140, 255),
    "ebike_indoor": (255, 0, 200),
    "unattended_room": (0, 0, 255),
    "fire_smoke": (0, 0, 230),
    "camera_offline": (128, 128, 128),
}

TITLE_H = 24  # height of the black title strip at the top, pixels
TITLE_PX = 15  # CJK font size of the title (pixels per em)
LABEL_PX = 13  # CJK font size of the box labels

# Debian/Ubuntu (fonts-noto-cjk, what scripts/setup_system.sh installs), Fedora, Arch, macOS, Windows
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def find_cjk_font(paths, fc_match: bool = True) -> str | None:
    """The first of `paths` that exists, else (with `fc_match`) fontconfig's choice for Simplified Chinese
    when that font really has Chinese glyphs; None when neither gives one."""
    for p in paths:
        if p and os.path.isfile(p):
            return p
    if fc_match and shutil.which("fc-match"):
        try:
            found = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:lang=zh-cn"], capture_output=True,
                                   text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found and os.path.isfile(found) and _has_cjk(found):
            return found
    return None


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """The CJK font used: $VIGIL_CJK_FONT, a known path, else fontconfig's match; None (said once in the log)."""
    path = find_cjk_font((os.environ.get("VIGIL_CJK_FONT"), *CJK_FONT_PATHS))
    if path is None:
        log.warning("no CJK font found (install fonts-noto-cjk or set VIGIL_CJK_FONT): evidence pictures fall back "
                    "to OpenCV's font and show Chinese names as '?'")
    return path


def _has_cjk(path: str) -> bool:
    """fc-match always answers with some font: keep it only if it has a glyph for a Chinese character."""
    try:
        from PIL import ImageFont
        return ImageFont.truetype(path, 16).getmask("出").getbbox() is not None
    except (OSError, ValueError):
        return False


@lru_cache(maxsize=8)
def _font(size: int):
    """The CJK font at `size` pixels (the Simplified Chinese face of a .ttc collection), or None."""
    path = cjk_font_path()
    if path is None:
        return None
    from PIL import ImageFont
    if path.lower().endswith(".ttc"):
        for index in range(12):  # e.g. Noto Sans CJK: JP, KR, SC, TC, HK, ...
            try:
                font = ImageFont.truetype(path, size, index=index)
            except OSError:
                break
            if font.getname()[0].endswith(" SC"):
                return font
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        log.warning("CJK font %s unusable (%s): evidence pictures show Chinese names as '?'", path, exc)
        return None


def text_width(text: str, size: int) -> int:
    font = _font(size)
    if font is None:
        return cv2.getTextSize(_fallback_text(text), cv2.FONT_HERSHEY_SIMPLEX, size / 27.0, 1)[0][0]
    return int(np.ceil(sum(_run(word, size)[3] for word in _RUNS.findall(text))))


def _fallback_text(text: str) -> str:
    """What OpenCV's putText can draw: OpenCV 5 has embedded fonts with CJK glyphs; 4.x's Hershey fonts draw
    one `?` per UTF-8 byte of anything outside ASCII, so it gets one `?` per character instead."""
    return text if int(cv2.__version__.split(".")[0]) >= 5 else text.encode("ascii", "replace").decode()


_RUNS = re.compile(r"\S+|\s+")


@lru_cache(maxsize=4096)
def _run(word: str, size: int) -> tuple[np.ndarray, int, int, float]:
    """One word's (or one run of spaces') coverage mask, its offset from the pen position on the baseline, and
    its advance. Rasterising with FreeType costs ~20 us a character; camera, zone and rule names repeat from
    one evidence picture to the next, so cached words make the text cheap."""
    from PIL import Image, ImageDraw
    font = _font(size)
    x0, y0, x1, y1 = font.getbbox(word, anchor="ls")
    advance = font.getlength(word)
    if x1 <= x0 or y1 <= y0:  # spaces
        return np.zeros((0, 0), np.uint8), 0, 0, advance
    img = Image.new("L", (x1 - x0, y1 - y0))
    ImageDraw.Draw(img).text((-x0, -y0), word, fill=255, font=font, anchor="ls")
    return np.asarray(img, np.uint8), x0, y0, advance


def _text_mask(text: str, size: int, height: int, max_width: int) -> np.ndarray:
    """Coverage mask (height x width, uint8) of `text` on one line, vertically centred in `height` pixels."""
    ascent, descent = _font(size).getmetrics()
    baseline = (height + ascent - descent) // 2
    glyphs = [_run(word, size) for word in _RUNS.findall(text)]
    width = min(max_width, int(np.ceil(sum(g[3] for g in glyphs))) + 2)
    band = np.zeros((height, max(width, 0)), np.uint8)
    pen = 0.0
    for arr, gx, gy, advance in glyphs:
        if arr.size:
            x, y = int(round(pen)) + gx, baseline + gy
            bx0, by0, bx1, by1 = max(0, x), max(0, y), min(width, x + arr.shape[1]), min(height, y + arr.shape[0])
            if bx1 > bx0 and by1 > by0:
                dst = band[by0:by1, bx0:bx1]
                np.maximum(dst, arr[by0 - y:by1 - y, bx0 - x:bx1 - x], out=dst)
        pen += advance
        if pen >= width:
            break
    return band


def _put_text(out: np.ndarray, text: str, x: int, y_top: int, height: int, size: int,
              colour: tuple[int, int, int] = (255, 255, 255)) -> None:
    """Draw `text` in place into the band out[y_top:y_top+height, x:], vertically centred."""
    h, w = out.shape[:2]
    y0, y1 = max(0, y_top), min(h, y_top + height)
    if y1 <= y0 or x >= w:
        return
    if _font(size) is None:  # OpenCV's own font: CJK glyphs only from OpenCV 5 on, `?` before
        scale = size / 27.0
        (_, th), _ = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(out, _fallback_text(text), (x, y_top + (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    colour, 1, cv2.LINE_AA)
        return
    band = _text_mask(text, size, height, w - x)
    alpha = cv2.cvtColor(np.ascontiguousarray(band[y0 - y_top:y1 - y_top]), cv2.COLOR_GRAY2BGR)
    region = out[y0:y1, x:x + band.shape[1]]
    ink = np.empty_like(region)
    ink[:] = colour
    region[:] = cv2.add(cv2.multiply(region, 255 - alpha, scale=1 / 255), cv2.multiply(ink, alpha, scale=1 / 255))


def annotate(image: np.ndarray, *, polygon_px: np.ndarray | None, rule: str, title: str,
             boxes: Detections | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """A copy of `image` with the zone outline, the evidence boxes, an optional mask outline and a title bar."""
    out = image.copy()
    colour = RULE_COLOURS.get(rule, (0, 255, 255))
    h, w = out.shape[:2]
    if polygon_px is not None:
        overlay = out.copy()
        pts = np.round(polygon_px).astype(np.int32)
        cv2.fillPoly(overlay, [pts], colour)
        cv2.addWeighted(overlay, 0.18, out, 0.82, 0, dst=out)
        cv2.polylines(out, [pts], True, colour, 2, cv2.LINE_AA)
    if mask is not None and mask.any():
        m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (0, 255, 255), 2, cv2.LINE_AA)
    if boxes is not None:
        label_h = LABEL_PX + 5
        for (x0, y0, x1, y1), name, conf in zip(boxes.xyxy, boxes.class_names, boxes.confidence):
            p0, p1 = (int(x0), int(y0)), (int(x1), int(y1))
            cv2.rectangle(out, p0, p1, colour, 2, cv2.LINE_AA)
            label = f"{zh_name(name)} {conf:.2f}"  # 电动车 0.88: the staff who read it read Chinese
            top = p0[1] - label_h
            if top <= TITLE_H:  # the title strip would hide it: inside the box, under its top edge
                top = max(p0[1], TITLE_H + 1)
            cv2.rectangle(out, (p0[0], top), (p0[0] + text_width(label, LABEL_PX) + 4, top + label_h), colour, -1)
            _put_text(out, label, p0[0] + 2, top, label_h, LABEL_PX)
    cv2.rectangle(out, (0, 0), (w, TITLE_H), (0, 0, 0), -1)
    _put_text(out, title, 6, 0, TITLE_H, TITLE_PX)
    return out


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
