"""The COCO YOLOv5n generated from the shared original-format checkpoint (models/yolov5_coco.py).

Built once per module through the real CLI (`vigil models build-coco --out TMP`) from
../shared/models/yolov5n_coco_official.pt, then checked as a detector:
- the ONNX file: dynamic batch, 320 input, (N, 6300, 85) output, 80 COCO names in the metadata;
- the head: anchors back in pixels (the checkpoint stores them in stride units);
- ONNX Runtime gives what the torch module gives on real images (batch of 2);
- bus.jpg: persons and the bus, boxes in the photo's own pixels;
- street_crowd.mp4: person counts comparable to the shared YOLOv8n int8 TFLite model at 640.
"""
from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import run_vigil, shared_path
from vigil_fixtures import ultralytics_asset

SOURCE = ("models", "yolov5n_coco_official.pt")
TFLITE = ("models", "yolov8n_coco_int8.tflite")
STREET = ("data", "video", "street_crowd.mp4")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    shared_path(*SOURCE)
    out = tmp_path_factory.mktemp("coco") / "yolov5n_coco_320.onnx"
    proc = run_vigil("models", "build-coco", "--imgsz", "320", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3" in proc.stdout  # source sha256
    return out


@pytest.fixture(scope="module")
def detector(built):
    from vigil.vision.onnx_detector import OnnxDetector

    return OnnxDetector(built, confidence=0.25)


def test_onnx_file_layout_and_names(built):
    import onnx

    m = onnx.load(str(built))
    assert m.opset_import[0].version == 17
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert m.graph.input[0].name == "images" and dims[1:] == [3, 320, 320] and isinstance(dims[0], str)
    out_dims = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims[1:] == [6300, 85]  # 3 anchors x (40^2 + 20^2 + 10^2) cells, 5 + 80 values
    meta = {p.key: p.value for p in m.metadata_props}
    names = ast.literal_eval(meta["names"])
    assert len(names) == 80 and names[0] == "person" and names[5] == "bus" and names[79] == "toothbrush"
    assert meta["layout"] == "yolov5" and meta["imgsz"] == "[320, 320]"


def test_head_anchors_are_pixels_and_torch_matches_onnxruntime(built):
    import onnxruntime as ort
    import torch

    from vigil.models.yolov5_coco import build_model
    from vigil.vision.onnx_detector import fill_input

    model, report = build_model(shared_path(*SOURCE))
    assert report["anchors_px"][0] == [[10, 13], [16, 30], [33, 23]]  # YOLOv5 v6 P3 anchors in pixels
    assert report["anchors_px"][2] == [[116, 90], [156, 198], [373, 326]]
    assert report["strides"] == [8, 16, 32] and report["tensors_transferred"] > 300
    cap = cv2.VideoCapture(str(shared_path(*STREET)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, frame = cap.read()
    assert ok
    x = np.empty((2, 3, 320, 320), np.float32)
    fill_input(cv2.imread(str(ultralytics_asset("bus.jpg"))), x[0])
    fill_input(frame, x[1])
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(built), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    assert got.shape == ref.shape == (2, 6300, 85)
    assert np.abs(got[..., 4:] - ref[..., 4:]).max() < 1e-4  # objectness and class scores
    assert np.abs(got[..., :4] - ref[..., :4]).max() < 0.02  # box pixels (wh up to ~1000 px for P5 anchors)
    assert (ref[..., 4] > 0.5).sum() > 10  # the comparison covers confident boxes, not only background


def test_finds_persons_and_the_bus_on_bus_jpg(detector):
    img = cv2.imread(str(ultralytics_asset("bus.jpg")))  # 810x1080: 4 people in front of a bus
    det = detector.detect(img)
    persons, bus = det.of_classes(["person"]).above(0.4), det.of_classes(["bus"]).above(0.5)
    assert len(persons) >= 3, det.to_list()
    assert len(bus) == 1, det.to_list()
    x1, y1, x2, y2 = bus.xyxy[0]
    assert x2 - x1 > 0.8 * img.shape[1] and 150 < y1 < 300 and 700 < y2 < 850  # original-image pixels
    assert all(p[3] - p[1] > 300 for p in persons.xyxy)  # standing people, full height in the photo


def test_person_counts_comparable_to_tflite_yolov8n(detector):
    from vigil.vision.bench_detector import video_frames
    from vigil.vision.detector import UltralyticsDetector

    frames = video_frames(8, shared_path(*STREET))
    tflite = UltralyticsDetector(shared_path(*TFLITE), imgsz=640, confidence=0.25)
    ours = np.array([len(detector.detect(f).of_classes(["person"])) for f in frames])
    ref = np.array([len(tflite.detect(f).of_classes(["person"])) for f in frames])
    assert ref.sum() >= 40, ref  # a crowded street: the reference sees people
    assert 0.75 <= ours.sum() / ref.sum() <= 1.33, (ours, ref)
    assert np.abs(ours - ref).mean() <= 3.0, (ours, ref)


def test_catalogue_entry_is_generated_and_verified_by_its_source():
    from vigil.models.catalogue import PROJECT_ROOT, catalogue

    shared_path(*SOURCE)
    e = catalogue()["yolov5n-coco-320"]
    assert (e.task, e.classes, e.imgsz, e.location, e.default_for) == ("detect", "coco80", 320, "generated", ("objects",))
    assert e.path == PROJECT_ROOT / ".vigil-data" / "models" / "yolov5n_coco_320.onnx"
    assert e.verified_path == shared_path(*SOURCE) and e.verify()
    q = catalogue()["yolov5n-coco-320-int8"]  # its int8 twin (models/quantize.py), an option
    assert (q.location, q.default_for, q.imgsz) == ("generated", (), 320)
    assert q.path == PROJECT_ROOT / ".vigil-data" / "models" / "yolov5n_coco_320_int8.onnx"
    assert q.verified_path == shared_path(*SOURCE) and q.verify()
    # every default has its model card, and every card named exists
    for name in ("objects", "fire"):
        from vigil.models.catalogue import default_model
        assert default_model(name).card, name
    for entry in catalogue().values():
        assert entry.card is None or (PROJECT_ROOT / entry.card).is_file(), entry.card
