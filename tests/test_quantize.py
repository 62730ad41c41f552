"""int8 quantization (models/quantize.py, `vigil models quantize`) with the real models on real pictures.

- the head's decoding stays float (the one-scale-for-pixels-and-scores trap that zeroes every score);
- the CLI writes a model that still finds the fires the float model finds, with the metadata copied;
- the shipped int8 fire models (options, not the default) agree with their float sources;
- the generated int8 COCO model (`make models`, optional) finds most persons the float one finds on care-ward CCTV.
Accuracy on the whole valid split (fire AP50 >= 0.80) is checked by test_fire_smoke.py; speed is measured by
`vigil bench detector` and reported in the README, not asserted.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from helpers import run_vigil, shared_path
from vigil.vision.boxes import iou_matrix

FIRE_DIR = Path(__file__).resolve().parents[1] / "models" / "fire_smoke"
FIRE_FLOAT = FIRE_DIR / "fire_smoke_yolov5n_320.onnx"
FIRE_VALID = ("data", "fire_smoke_indoor", "valid", "images")
CARE_WARD = ("data", "care_ward", "valid", "images")


def agreement(ref_path: Path, quant_path: Path, images: list[Path], cls: str) -> tuple[int, float, float]:
    """(reference boxes, share of reference boxes the quantized model also finds at IoU >= 0.5, and the
    other way round), for one class at confidence 0.25."""
    from vigil.vision.onnx_detector import OnnxDetector

    ref, quant = OnnxDetector(ref_path), OnnxDetector(quant_path)
    n_ref = n_q = hit_ref = hit_q = 0
    for path in images:
        image = cv2.imread(str(path))
        a = ref.detect(image).of_classes([cls]).xyxy
        b = quant.detect(image).of_classes([cls]).xyxy
        n_ref, n_q = n_ref + len(a), n_q + len(b)
        if len(a) and len(b):
            m = iou_matrix(a, b) >= 0.5
            hit_ref, hit_q = hit_ref + int(m.any(1).sum()), hit_q + int(m.any(0).sum())
    return n_ref, hit_ref / max(n_ref, 1), hit_q / max(n_q, 1)


def valid_images(parts: tuple[str, ...], n: int) -> list[Path]:
    files = sorted(shared_path(*parts).iterdir())
    return files[:: max(1, len(files) // n)][:n]


def test_head_decoding_is_left_in_float():
    import onnx

    from vigil.models.quantize import float_nodes, head_prefix

    graph = onnx.load(str(FIRE_FLOAT)).graph
    keep = set(float_nodes(graph))
    ops = {n.name: n.op_type for n in graph.node}
    assert head_prefix(graph) == "/model.24/"
    assert {"Softmax", "Sigmoid", "Concat"} <= {ops[k] for k in keep}  # DFL, class scores, the output concat
    assert all(k.startswith("/model.24/") for k in keep)
    inner = [n for n, op in ops.items() if op == "Conv" and n.startswith("/model.24/") and "/cv3.0.0/" in n]
    assert inner and not set(inner) & keep  # the head's inner convolutions are quantized
    assert not any(k.startswith("/model.2/") for k in keep)  # the backbone is quantized


def test_quantize_cli_writes_a_model_that_still_finds_fire(tmp_path):
    import onnx

    out = tmp_path / "fire_int8.onnx"
    proc = run_vigil("models", "quantize", "--model", str(FIRE_FLOAT), "--out", str(out), "--images", "16",
                     "--negatives", "care-ward", "--negative-images", "4", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wrote" in proc.stdout and out.is_file()
    assert "calibrated on 16 images" in proc.stdout and "(4 of them fire-free, from care-ward)" in proc.stdout
    model = onnx.load(str(out))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50
    meta = {p.key: p.value for p in model.metadata_props}
    assert "fire" in meta["names"] and meta["imgsz"] == "[320, 320]" and "int8" in meta["quantization"]
    n, found, precise = agreement(FIRE_FLOAT, out, valid_images(FIRE_VALID, 40), "fire")
    assert n >= 30, n
    assert found >= 0.8 and precise >= 0.8, (found, precise)


def test_quantize_cli_rejects_a_bad_calibration_set(tmp_path):
    (tmp_path / "calib").mkdir()
    proc = run_vigil("models", "quantize", "--model", str(FIRE_FLOAT), "--out", str(tmp_path / "x.onnx"),
                     "--calibration", str(tmp_path / "calib"))
    assert proc.returncode == 2
    assert "no calibration images" in proc.stderr
    assert not (tmp_path / "x.onnx").exists()
    proc = run_vigil("models", "quantize", "--model", str(FIRE_FLOAT), "--out", str(tmp_path / "x.onnx"),
                     "--images", "16", "--negatives", "care-ward", "--negative-images", "16")
    assert proc.returncode == 2 and "--negative-images (16) must be fewer than --images (16)" in proc.stderr
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("float_name", ["fire-smoke-yolov8n-320", "fire-smoke-yolov5n-320"])
def test_shipped_int8_fire_models_agree_with_their_float_sources(float_name):
    """The shipped int8 options (detector.fire_model: fire-smoke-yolov8n-320-int8, the default's twin, and
    fire-smoke-yolov5n-320-int8, the earlier default's); the default stays the float YOLOv8n model (README,
    Detection quality)."""
    from vigil.models.catalogue import catalogue, resolve_fire_model

    entries = catalogue()
    entry = entries[f"{float_name}-int8"]
    assert entry.verify(), "the shipped int8 file does not match the catalogue's sha256"
    assert resolve_fire_model("auto")[0] == entries["fire-smoke-yolov8n-320"].path
    n, found, precise = agreement(entries[float_name].path, entry.path, valid_images(FIRE_VALID, 60), "fire")
    assert n >= 40, n
    assert found >= 0.85 and precise >= 0.85, (found, precise)


def test_generated_int8_coco_model_finds_most_of_the_same_persons():
    """The int8 COCO twin (built by `make models`, an option, not the default: it keeps about 90 % of the
    float model's persons on care-ward CCTV, where people lying in bed are already hard)."""
    from vigil.models.catalogue import catalogue, resolve_model

    path = resolve_model("yolov5n-coco-320-int8")
    n, found, precise = agreement(resolve_model(None), path, valid_images(CARE_WARD, 120), "person")
    assert n >= 40, n
    assert found >= 0.85 and precise >= 0.85, (found, precise)
    assert catalogue()["yolov5n-coco-320"].path == resolve_model(None)
