"""Evidence pictures: Chinese camera and zone names are drawn as glyphs with a CJK font, not as `?`."""
from __future__ import annotations

import logging
from datetime import datetime

import cv2
import numpy as np
import pytest

from helpers import require
from vigil.vision import annotate as A
from vigil.vision.annotate import annotate

STRIP_H = 24  # the title strip's height (A.TITLE_H)
NAME = "东侧安全出口"


@pytest.fixture(scope="module", autouse=True)
def cjk_font():
    require(None if A.cjk_font_path() else "no CJK font: install fonts-noto-cjk (scripts/setup_system.sh does)")


def strip(title: str, w: int = 640, h: int = 360) -> np.ndarray:
    """The title strip of an evidence picture of a plain grey frame, as grey levels (int)."""
    out = annotate(np.full((h, w, 3), 90, np.uint8), polygon_px=None, rule="blocked_exit", title=title)
    return cv2.cvtColor(out[:STRIP_H], cv2.COLOR_BGR2GRAY).astype(int)


def ink_columns(s: np.ndarray) -> np.ndarray:
    return np.flatnonzero((s > 100).any(axis=0))


def test_chinese_title_is_glyphs_not_question_marks():
    cn = strip(NAME)
    # OpenCV 4's Hershey fonts draw one `?` per UTF-8 byte (18 here); the old pipeline passed one per character
    for qm in (strip("?" * len(NAME)), strip("?" * len(NAME.encode()))):
        differing = (np.abs(cn - qm) > 60).sum()
        assert differing > 300, f"only {differing} pixels differ between {NAME} and question marks in the title strip"
    # CJK characters are dense: far more ink than six question marks
    assert (cn > 100).sum() > 1.8 * (strip("?" * len(NAME)) > 100).sum()


def test_different_chinese_names_give_different_pixels():
    a, b = strip(NAME), strip("西侧安全出口")
    first = slice(0, 6 + A.TITLE_PX + 2)  # only the first character differs
    assert (np.abs(a[:, first] - b[:, first]) > 60).sum() > 40
    np.testing.assert_array_equal(a[:, 6 + A.TITLE_PX + 4:], b[:, 6 + A.TITLE_PX + 4:])
    assert (np.abs(strip("值班区") - strip("厨房门")) > 60).sum() > 150


def test_title_ink_spans_one_em_per_character():
    cols = ink_columns(strip(NAME))
    em = A.TITLE_PX
    assert 4 <= cols[0] <= 8  # drawn from x = 6
    assert 5.5 * em <= cols[-1] - cols[0] + 1 <= 6.2 * em, (cols[0], cols[-1])
    for i in range(6):  # every character cell has ink
        cell = cols[(cols >= 6 + i * em) & (cols < 6 + (i + 1) * em)]
        assert len(cell) >= em // 2, f"character {i} ({NAME[i]}) has ink in only {len(cell)} columns"
    rows = np.flatnonzero((strip(NAME) > 100).any(axis=1))
    assert rows[0] >= 1 and rows[-1] <= STRIP_H - 2 and rows[-1] - rows[0] >= em - 3  # inside the strip, full height


def test_mixed_title_and_box_label_on_both_frame_sizes():
    from vigil.vision.detections import Detections
    title = f"blocked_exit | cam-east | {NAME} | conf 0.88"
    for w, h in ((640, 360), (1280, 720)):
        img = np.full((h, w, 3), 90, np.uint8)
        boxes = Detections(np.array([[w * 0.6, h * 0.4, w * 0.8, h * 0.9], [10, 5, 120, 200]], np.float32),
                           np.array([0.88, 0.7], np.float32), np.array([0, 1], np.int32), {0: "电动车", 1: "person"})
        out = annotate(img, polygon_px=None, rule="blocked_exit", title=title, boxes=boxes)
        assert out.shape == img.shape and (img == 90).all()  # a copy; the input is untouched
        x0, y0 = int(w * 0.6), int(h * 0.4)
        label = cv2.cvtColor(out[y0 - A.LABEL_PX - 5:y0, x0:x0 + 100], cv2.COLOR_BGR2GRAY)
        assert (label > 200).sum() > 60  # white glyphs of 电动车 0.88 on the rule colour
        # a box at the top: its label moves inside the box instead of under the title strip
        inner = cv2.cvtColor(out[STRIP_H + 1:STRIP_H + 1 + A.LABEL_PX + 5, 12:80], cv2.COLOR_BGR2GRAY)
        assert (inner > 200).sum() > 40
        cols = ink_columns(cv2.cvtColor(out[:STRIP_H], cv2.COLOR_BGR2GRAY).astype(int))
        assert cols[-1] - cols[0] > 300


def test_no_cjk_font_falls_back_to_opencv_and_says_so_once(monkeypatch, caplog):
    assert A.find_cjk_font((), fc_match=False) is None
    assert A.find_cjk_font(("/nonexistent/font.ttc",), fc_match=True) is not None  # fontconfig finds the installed one
    monkeypatch.setattr(A, "CJK_FONT_PATHS", ())
    monkeypatch.setenv("PATH", "/nonexistent")  # no fc-match either
    monkeypatch.delenv("VIGIL_CJK_FONT", raising=False)
    A.cjk_font_path.cache_clear(), A._font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="vigil.vision"):
            fallback = [strip(NAME), strip(NAME)]
        assert sum("no CJK font" in r.message for r in caplog.records) == 1
        np.testing.assert_array_equal(fallback[0], fallback[1])
        assert (fallback[0] > 100).sum() > 50  # OpenCV's putText drew the title
        if int(cv2.__version__.split(".")[0]) < 5:  # Hershey: one `?` per character, as before
            np.testing.assert_array_equal(fallback[0], strip("?" * len(NAME)))
    finally:
        monkeypatch.undo()
        A.cjk_font_path.cache_clear(), A._font.cache_clear(), A._run.cache_clear()
    assert A.cjk_font_path() is not None


class SnapshotSink:
    def __init__(self):
        self.snapshots: list[tuple[object, bytes]] = []

    def started(self, event, snapshot_jpeg):
        self.snapshots.append((event, snapshot_jpeg))

    def updated(self, event, snapshot_jpeg):
        pass

    def ended(self, event):
        pass


def test_pipeline_evidence_picture_shows_the_chinese_zone_name():
    """The real evidence path: the default object model on a photograph, an understaffed duty room whose zone
    has a Chinese name; the event's JPEG title strip is the Chinese title, not the `?` one."""
    from helpers import shared_path
    from vigil.config import parse_config
    from vigil.models.catalogue import catalogue
    from vigil.models.yolov5_coco import ensure_built
    from vigil.vision.detector import load_detector
    from vigil.vision.pipeline import CameraPipeline
    from vigil_fixtures import ultralytics_asset

    shared_path("models", "yolov5n_coco_official.pt")
    detector = load_detector(ensure_built(catalogue()["yolov5n-coco-320"].path), 320, 0.25)
    cam = parse_config({"institutions": [{"id": "a", "name": "A", "region": "X"}], "cameras": [{
        "id": "duty", "name": "值班室", "url": "x.mp4", "institution": "a", "site_kind": "control_room",
        "zones": [{"name": NAME, "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                   "rules": [{"type": "unattended_room", "min_persons": 6, "absence_s": 1}]}]}]}).cameras[0]
    sink = SnapshotSink()
    pipe = CameraPipeline(cam, detector, sink)
    img = cv2.imread(str(ultralytics_asset("bus.jpg")))
    for t in range(3):
        pipe.process(img, float(t), datetime(2026, 11, 24, 10, 0, t))
    assert len(sink.snapshots) == 1
    ev, jpeg = sink.snapshots[0]
    shot = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:STRIP_H], cv2.COLOR_BGR2GRAY).astype(int)
    title = f"消防控制室脱岗 | 值班室 | {{}} | 置信度 {ev.peak_confidence:.2f}"
    w, h = img.shape[1], img.shape[0]
    as_cn, as_qm = strip(title.format(NAME), w, h), strip(title.format("?" * len(NAME)), w, h)
    err_cn, err_qm = np.abs(shot - as_cn).mean(), np.abs(shot - as_qm).mean()
    assert err_cn < 3 and err_qm > 2 * err_cn + 1, (err_cn, err_qm)  # JPEG noise vs a different drawing
