"""The fire/smoke training pipeline end to end, tiny: convert the COCO YOLOv5n, train 1 epoch on 8 real
images (and 2 fire-free background frames) at 160 px, read the run record, evaluate through the CLI (clean
JSON last line), export to ONNX."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_vigil as vigil, shared_path

FIRE_SMOKE = ("data", "fire_smoke_indoor")
CARE_WARD = ("data", "care_ward", "valid", "images")
YOLOV5N = ("models", "yolov5n_coco_official.pt")
EVAL_KEYS = {"map50", "map50_95", "ap50", "precision", "recall", "ms_per_image", "imgsz", "model", "images"}


@pytest.fixture(scope="module")
def shared_inputs() -> None:
    shared_path(*YOLOV5N)
    shared_path(*FIRE_SMOKE, "train", "images")
    shared_path(*FIRE_SMOKE, "valid", "images")


@pytest.fixture(scope="module")
def tiny_run(shared_inputs, tmp_path_factory) -> Path:
    """`vigil models train fire-smoke`, COCO init, 1 epoch, 8 train / 4 val images and 2 background frames
    (`--negatives FOLDER`), 160 px."""
    out = tmp_path_factory.mktemp("train")
    negatives = tmp_path_factory.mktemp("negatives")
    for frame in sorted(shared_path(*CARE_WARD).glob("*.jpg"))[:2]:
        shutil.copy(frame, negatives)  # a temporary folder of the test, not the project
    proc = vigil("models", "train", "fire-smoke", "--epochs", "1", "--imgsz", "160", "--batch", "8",
                 "--train-images", "8", "--val-images", "4", "--workers", "0", "--init", "coco",
                 "--negatives", str(negatives), "--out", str(out), "--name", "tiny")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tiny" in proc.stdout and "342/427 tensors from COCO" in proc.stdout, proc.stdout
    return out / "tiny"


def test_convert_yolov5_original_checkpoint(shared_inputs, tmp_path):
    from ultralytics import YOLO

    from vigil.models.yolov5_convert import convert

    report = convert(tmp_path / "init.pt")
    # backbone + neck (layers 0..23) transfer whole; the anchor-free Detect head (layer 24) stays fresh
    assert report["tensors_transferred"] == 342 and report["tensors_total"] == 427
    assert report["params_transferred"] == 1_757_152 and report["params_total"] == 2_508_854
    assert report["layers"] == [0, 23] and report["batchnorm_settings_differ"] == []
    assert all(k.startswith("model.24.") for k in report["source_tensors_unused"])
    assert report["source_sha256"] == "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3"
    model = YOLO(str(tmp_path / "init.pt"))
    assert model.task == "detect" and dict(model.names) == {0: "fire", 1: "smoke"}
    # same source -> byte-identical checkpoint (the init's sha256 in the run record is reproducible)
    again = convert(tmp_path / "again" / "init.pt")
    assert again["out_sha256"] == report["out_sha256"]


def test_convert_yolov8_tflite_reproduces_it_and_trains_sanely(tmp_path):
    """The COCO YOLOv8n TFLite file -> ultralytics yolov8n: the converted network finds what the TFLite one
    finds on a real picture (person, bus), and after unfolding batch norm its backbone in train mode (batch
    statistics) stays near its eval function; with the folded weights alone it would not."""
    import copy

    import torch
    from ultralytics import YOLO

    from vigil.models import yolov8_convert as yc

    shared_path("models", "yolov8n_coco_int8.tflite")
    shared_path(*FIRE_SMOKE, "train", "images")
    proc = vigil("models", "convert-yolov8", "--out", str(tmp_path / "init.pt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "parameters transferred" in proc.stdout and "wrote " in proc.stdout, proc.stdout
    report = torch.load(tmp_path / "init.pt", map_location="cpu", weights_only=False)["vigil_conversion"]
    parity = report["parity"]
    assert parity["classes_tflite"] == parity["classes_torch"] == [0, 5], parity  # COCO person, bus
    # single scores of the int8 file differ by kernel (XNNPACK vs reference: 0.22): the median is what a wrong
    # conversion would move (models/yolov8_convert.py, SCORE_DIFF_MEDIAN)
    assert parity["score_diff_median_confident"] < 0.01 and parity["score_diff_max"] < 0.2, parity
    assert parity["box_diff_px_max_confident"] < 8, parity
    assert report["unfold_output_drift_max"] < 0.05  # unfolding keeps the eval function
    assert report["convolutions"] == 64 and report["fresh"] == ["model.22.cv3"]
    assert report["params_transferred"] + report["params_left"] == report["params_total"]
    assert report["params_transferred"] > 0.85 * report["params_total"]
    model = YOLO(str(tmp_path / "init.pt"))
    assert model.task == "detect" and dict(model.names) == {0: "fire", 1: "smoke"}

    coco = yc.build(80)
    yc.load_folded(coco, yc.read_convs(yc.default_source()))
    images = yc.load_images(yc.calibration_images(), 320)
    folded = copy.deepcopy(coco)
    yc.unfold_batchnorm(coco, images)

    def train_vs_eval(net) -> float:
        outs = []
        for train in (False, True):
            net.train(train)
            y = images[:16]
            with torch.no_grad():
                for layer in net.model[:10]:  # the backbone
                    y = layer(y)
            outs.append(y)
        return float((outs[1] - outs[0]).norm() / outs[0].norm())

    unfolded_gap, folded_gap = train_vs_eval(coco), train_vs_eval(folded)
    assert unfolded_gap < 0.6 and folded_gap > 2.0, (unfolded_gap, folded_gap)


def test_train_writes_run_record(tiny_run):
    record = json.loads((tiny_run / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "done" and record["epochs_run"] == 1
    assert record["dataset"] == {"train_images": 10, "val_images": 4, "negative_images": 2}
    assert record["config"]["negatives"]
    assert record["data"]["names"] == {"0": "fire", "1": "smoke"}  # JSON keys
    assert record["init"]["kind"] == "coco" and record["init"]["transfer"]["tensors_transferred"] == 342
    assert len(record["init"]["checkpoint_sha256"]) == 64
    assert record["config"]["seed"] == 0 and record["ultralytics_train_args"]["deterministic"] is True
    assert record["environment"]["ultralytics"] and record["git"]["commit"]
    (epoch,) = record["per_epoch"]
    assert epoch["epoch"] == 1 and "metrics/mAP50(B)" in epoch and "train/box_loss" in epoch
    final = record["final"]
    assert set(final) >= {"map50", "map50_95", "ap50", "precision", "recall"}
    assert set(final["ap50"]) == {"fire", "smoke"}
    best = Path(record["weights"]["best"]["path"])
    assert best.exists() and best.parent.parent == tiny_run


def test_eval_prints_json_last_line(tiny_run):
    best = tiny_run / "weights" / "best.pt"
    proc = vigil("models", "eval", "--model", str(best), "--data", str(tiny_run / "data.yaml"), "--imgsz", "160",
                 "--images", "4", "--timing-images", "4", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # ultralytics' logs went to stderr
    result = json.loads(lines[-1])
    assert EVAL_KEYS <= set(result)
    assert result["imgsz"] == 160 and result["images"] == 4 and result["timing_images"] == 4
    assert set(result["ap50"]) == {"fire", "smoke"} and result["ms_per_image"] > 0
    for key in ("map50", "map50_95", "precision", "recall"):
        assert 0.0 <= result[key] <= 1.0


def test_export_onnx_runs_in_onnxruntime(tiny_run, tmp_path):
    from vigil.models.export import export_onnx

    report = export_onnx(tiny_run / "weights" / "best.pt", imgsz=160, out=tmp_path / "fire_smoke.onnx")
    assert Path(report["onnx"]).exists() and report["names"] == {0: "fire", 1: "smoke"}
    assert "CPUExecutionProvider" in report["providers"]
    assert report["top_scores_max_abs_diff_vs_pt"] < 1e-3


def test_dynamic_export_batches_in_vigils_detector(tiny_run, tmp_path):
    """`vigil models export --dynamic`: the batch axis is free, so vigil's ONNX detector runs several cameras'
    frames in one session.run, with the same boxes as one frame at a time."""
    import cv2
    import numpy as np

    from vigil.models.export import export_onnx
    from vigil.vision.onnx_detector import OnnxDetector

    report = export_onnx(tiny_run / "weights" / "best.pt", imgsz=160, out=tmp_path / "dyn.onnx", dynamic=True)
    assert report["dynamic"] is True and report["top_scores_max_abs_diff_vs_pt"] < 1e-3
    det = OnnxDetector(report["onnx"], imgsz=160, confidence=0.001, threads=1)
    assert det.dynamic_batch
    images = [cv2.imread(str(p)) for p in sorted(shared_path("data", "fire_smoke_indoor", "valid", "images").glob("*.jpg"))[:3]]
    runs = det.runs
    batched = det.detect_batch(images)
    assert det.runs == runs + 1  # one session.run for the three
    for one, image in zip(batched, images):
        alone = det.detect(image)
        assert len(one) == len(alone) and np.allclose(one.xyxy, alone.xyxy, atol=1e-2)
    assert sum(len(d) for d in batched) > 0  # the tiny model reports something at 0.001 on these photos


def test_oversampled_train_split_repeats_smoke_images(tmp_path):
    """--oversample smoke=3: every train image holding smoke appears 3 times, the rest once; the links (and
    the label cache ultralytics writes beside them) live in the run folder, not in the shared data."""
    from vigil.models.datasets import classes_in, split_image_files, split_images, write_fire_smoke_yaml

    root = shared_path("data", "fire_smoke_indoor")
    originals = split_images(root / "train" / "images")
    n_smoke = sum(1 for p in originals if 1 in classes_in(p))
    data = write_fire_smoke_yaml(tmp_path, oversample={1: 3})
    train = split_image_files(data, "train")
    assert n_smoke > 100 and len(train) == len(originals) + 2 * n_smoke
    assert all(str(p).startswith(str(tmp_path)) for p in train)
    assert sum(1 for p in train if 1 in classes_in(p)) == 3 * n_smoke


def test_care_ward_split_keeps_rooms_apart():
    """Half the care-ward frames may be trained on as background, the other half stays for the false-alarm
    tests; no camera or recording has frames on both sides."""
    from vigil.models.datasets import care_ward_split, source_group

    halves = care_ward_split()
    negatives, held_out = halves["negatives"], halves["held_out"]
    assert len(negatives) + len(held_out) == len(list(shared_path(*CARE_WARD).glob("*.jpg"))) == 402
    assert abs(len(negatives) - len(held_out)) <= 40
    assert not {source_group(p) for p in negatives} & {source_group(p) for p in held_out}
    assert source_group(Path("cam_3_202309220645-avi_12_jpg.rf.x.jpg")) == "cam_3"
    assert source_group(Path("17_100023_png_jpg.rf.x.jpg")) == "17"


def test_negatives_join_the_train_split_as_background(tmp_path):
    """--negatives care-ward: the negatives half is linked into the train split with an empty label each;
    the care-ward people/bed labels are never linked; valid is untouched."""
    from vigil.models.datasets import (NEGATIVE_PREFIX, care_ward_split, classes_in, label_for, split_image_files,
                                       split_images, write_fire_smoke_yaml)

    negatives = care_ward_split()["negatives"]
    data = write_fire_smoke_yaml(tmp_path, negatives=negatives)
    train = split_image_files(data, "train")
    background = [p for p in train if p.name.startswith(NEGATIVE_PREFIX)]
    assert len(train) == len(split_images(shared_path(*FIRE_SMOKE, "train", "images"))) + len(negatives)
    assert len(background) == len(negatives)
    assert all(label_for(p).read_text(encoding="utf-8") == "" and classes_in(p) == set() for p in background)
    assert len(split_image_files(data, "val")) == 262


def test_train_rejects_bad_negatives(tmp_path):
    proc = vigil("models", "train", "fire-smoke", "--epochs", "1", "--negatives", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "neither 'care-ward' nor a folder" in proc.stderr, proc.stderr
