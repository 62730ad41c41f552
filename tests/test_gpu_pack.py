"""scripts/gpu_pack.py and gpu_train.py's set rebuild (issue #18): class-set images travel to a lent GPU machine once
each as WebP, labels in the manifest, and come back there as an ultralytics set with the same labels and names."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest

from helpers import shared_path

ROOT = Path(__file__).resolve().parent.parent


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_set(root: Path, name: str, images: list[Path], labels: list[str], names: dict[int, str]) -> None:
    """A class set as `vigil models class-set` writes it: linked images, label files, data.yaml."""
    for side, items in (("train", list(zip(images, labels))[:-1]), ("val", list(zip(images, labels))[-1:])):
        (root / name / side / "images").mkdir(parents=True)
        (root / name / side / "labels").mkdir(parents=True)
        for img, lab in items:
            (root / name / side / "images" / f"care_ward__{img.name}").symlink_to(img)
            if lab:
                (root / name / side / "labels" / f"care_ward__{img.stem}.txt").write_text(lab)
    yml = "\n".join(f"  {k}: {v}" for k, v in names.items())
    (root / name / "data.yaml").write_text(f"path: {root / name}\ntrain: train/images\nval: val/images\nnames:\n{yml}\n")


def test_pack_and_rebuild_keep_every_label_and_encode_each_image_once(tmp_path):
    images = sorted(shared_path("data", "care_ward", "valid", "images").glob("*.jpg"))[:4]
    labels = ["0 0.5 0.5 0.2 0.4\n", "", "0 0.1 0.2 0.05 0.1\n0 0.7 0.7 0.1 0.1\n", "0 0.3 0.3 0.1 0.2\n"]
    sets = tmp_path / "sets"
    fake_set(sets, "a", images, labels, {0: "person"})
    fake_set(sets, "b", images, ["", "1 0.5 0.5 0.1 0.1\n", "", "0 0.2 0.2 0.1 0.1\n"], {0: "fire", 1: "smoke"})

    pack = script("gpu_pack").pack(tmp_path / "pack", ["a", "b"], {"care_ward": 60}, 70, val_per_set=4, sets_root=sets)
    assert pack["images"] == 4  # the two sets share their images: each travels once
    files = sorted((tmp_path / "pack" / "img").iterdir())
    assert [f.suffix for f in files] == [".webp"] * 4
    assert pack["bytes"] < sum(p.stat().st_size for p in images)
    assert cv2.imread(str(files[0])).shape == cv2.imread(str(images[0])).shape  # 640x640 frames are not resized

    train = script("gpu_train")
    for name, labs, names in (("a", labels, {0: "person"}), ("b", None, {0: "fire", 1: "smoke"})):
        yaml_path = train.build_set(tmp_path / "pack", name, work=tmp_path / "gpu")
        root = yaml_path.parent
        assert "names:\n" in yaml_path.read_text() and all(f"{k}: {v}" in yaml_path.read_text() for k, v in names.items())
        got = {p.stem: p.read_text() for p in (root / "train" / "labels").glob("*.txt")}
        want = {}
        for i in images[:-1]:
            src = sets / name / "train" / "labels" / f"care_ward__{i.stem}.txt"
            want[src.stem] = src.read_text() if src.is_file() else ""  # no label file: background
        assert got == want
        if labs:
            assert got[f"care_ward__{images[2].stem}"] == labels[2]
        linked = sorted((root / "train" / "images").iterdir())
        assert len(linked) == 3 and all(p.suffix == ".webp" and p.resolve().is_file() for p in linked)
        assert len(list((root / "val" / "images").iterdir())) == 1


def test_pack_names_a_missing_class_set(tmp_path):
    with pytest.raises(SystemExit, match="class-set nope"):
        script("gpu_pack").pack(tmp_path / "pack", ["nope"], {}, 70, val_per_set=4, sets_root=tmp_path)
    assert not any((tmp_path / "pack" / "img").iterdir())  # nothing encoded before the error
