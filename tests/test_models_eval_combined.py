"""`vigil models eval --model defaults` / `--model A+B` (issue #18 item 2: the default models expose person, ebike,
fire, smoke and the obstacle classes by name, so one labelled set holding them all is evaluated in one run): the
catalogue's objects and fire defaults as one detector on 40 real CCTV frames of the cctv_intelligence val side."""
from __future__ import annotations

import json

import pytest

from helpers import run_vigil, shared_path

from vigil.models.combined import CombinedDetector, parse_parts
from vigil.models.evaluate_byname import AP_CONF


@pytest.fixture(scope="module")
def cctv_val(tmp_path_factory):
    """40 frames of the cctv_intelligence val side (sites never trained on), as the splits pick them."""
    shared_path("data", "cctv_intelligence", "data.yaml")
    shared_path("models", "yolov5n_coco_official.pt")
    from vigil.models.catalogue import catalogue
    from vigil.models.splits import write_splits
    from vigil.models.yolov5_coco import ensure_built

    ensure_built(catalogue()["yolov5n-coco-320"].path)
    out = tmp_path_factory.mktemp("splits")
    write_splits(out, sets=("cctv_intelligence",))
    return out / "cctv_intelligence" / "data.yaml"


def test_defaults_evaluate_people_bags_fire_and_smoke_in_one_run(cctv_val):
    proc = run_vigil("models", "eval", "--model", "defaults", "--data", str(cctv_val), "--classes",
                     "person,bag,fire,smoke", "--frame-level", "--images", "40", "--threads", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["model"] == "defaults (yolov5n-coco-320 + fire-smoke-yolov8n-320)" and r["format"] == "combined"
    assert r["evaluated"] == ["bag", "fire", "person", "smoke"], r["evaluated"]  # in the set's order
    assert r["class_owner"] == {"bag": "yolov5n-coco-320", "person": "yolov5n-coco-320",
                                "fire": "fire-smoke-yolov8n-320", "smoke": "fire-smoke-yolov8n-320"}
    assert r["imgsz"] == {"yolov5n-coco-320": 320, "fire-smoke-yolov8n-320": 320} and r["images"] == 40
    assert set(r["not_evaluated"]) == {"fall", "trash", "violence"}
    for name, c in r["classes"].items():
        assert c["frames"]["with"] + c["frames"]["without"] == 40, (name, c)
        if c["boxes"]:
            assert 0.0 <= c["recall"] <= 1.0 and 0.0 <= c["ap50"] <= 1.0, (name, c)
    assert r["classes"]["person"]["boxes"] > 0 and r["classes"]["person"]["tp"] > 0


def test_the_first_model_that_names_a_class_owns_it(cctv_val):
    """person model + COCO: people from the person model only, the rest (bags) from COCO."""
    parts = parse_parts("person-cctv-yolov8n-320+yolov5n-coco-320")
    det = CombinedDetector(parts, confidence=AP_CONF, threads=2)
    assert det.owners["person"] == "person-cctv-yolov8n-320" and det.owners["bag"] == "yolov5n-coco-320"
    assert list(det.names.values()).count("person") == 1
    person_ids = [i for i, n in det.names.items() if n == "person"]
    assert person_ids == [0]  # the person model's class 0, COCO's person dropped


def test_combined_model_errors_name_the_problem(cctv_val):
    proc = run_vigil("models", "eval", "--model", "defaults", "--imgsz", "640", "--data", str(cctv_val))
    assert proc.returncode == 2 and "each model of --model defaults runs at its own input size" in proc.stderr
    proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320++fire-smoke-yolov8n-320", "--data", str(cctv_val))
    assert proc.returncode == 2 and "an empty name between '+' signs" in proc.stderr, proc.stderr[-1500:]
    proc = run_vigil("models", "eval", "--model", "yolov5n-coco-320+no-such-model", "--data", str(cctv_val))
    assert proc.returncode == 2 and "no-such-model" in proc.stderr and "Traceback" not in proc.stderr
