"""Training sets with vigil's own classes, assembled from the train and val sides of the honest splits (`vigil models
splits`), issue #18 item 2. Images are symbolic links to the shared files (nothing copied); labels are rewritten:
each set's source classes are mapped by name onto the set's classes, every other class dropped; frames left
without a box stay in as background (what the model must not report).

- `person`: people in fixed street/corridor CCTV (cctv_intelligence `person`) and in ceiling CCTV of care wards
  (care_ward `person` and `patient`: staff and residents are both people), for the staffing and gate rules.
- `fire-smoke-cctv`: the indoor fire/smoke photos the shipped fire model learnt from, plus cctv_intelligence's
  surveillance frames (its `fire` and `smoke`; its 1,000-odd train frames without fire or smoke, most with people
  and street scenes, as background), for fire and smoke on surveillance footage.

`write_set(name)` writes `<out>/{train,val}/{images,labels}/`, `<out>/data.yaml` and `<out>/manifest.json`. Val is
the union of the sources' val sides (by site, by room, the photos' own valid folder), so no val scene is trained on."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from vigil.models.catalogue import PROJECT_ROOT
from vigil.models.datasets import data_names, label_for
from vigil.models.splits import SPLITS_DIR

OUT_ROOT = PROJECT_ROOT / ".vigil-data" / "datasets"
# set -> (its class names, {source split: {source class name: set class name}})
SETS: dict[str, tuple[tuple[str, ...], dict[str, dict[str, str]]]] = {
    "person": (("person",), {"cctv_intelligence": {"person": "person"},
                             "care_ward": {"person": "person", "patient": "person"}}),
    "fire-smoke-cctv": (("fire", "smoke"), {"fire_smoke_indoor": {"fire": "fire", "smoke": "smoke"},
                                            "cctv_intelligence": {"fire": "fire", "smoke": "smoke"}}),
}


def write_set(name: str, out: Path | None = None, splits: Path = SPLITS_DIR) -> dict:
    """Write set `name` (replacing an earlier one) under `out` (default .vigil-data/datasets/<name>); returns the
    manifest: per source and side, images, boxes and frames without a box."""
    if name not in SETS:
        raise ValueError(f"unknown set {name!r} (known: {', '.join(SETS)})")
    classes, sources = SETS[name]
    out = out or OUT_ROOT / name
    manifest: dict = {"set": name, "out": str(out), "names": dict(enumerate(classes)), "sources": {}}
    for side in ("train", "val"):
        img_dir, lab_dir = out / side / "images", out / side / "labels"
        for d in (img_dir, lab_dir):
            d.mkdir(parents=True, exist_ok=True)
            for old in d.iterdir():
                old.unlink()
        for set_name, mapping in sources.items():
            src = splits / set_name
            if not (src / f"{side}.txt").is_file():
                raise FileNotFoundError(f"{src / (side + '.txt')}: run `vigil models splits` first")
            ids = {i: classes.index(mapping[n]) for i, n in data_names(src / "data.yaml").items() if n in mapping}
            stats = {"images": 0, "boxes": 0, "background": 0}
            for line in (src / f"{side}.txt").read_text().splitlines():
                if not line.strip():
                    continue
                image = Path(line.strip())
                link = img_dir / f"{set_name}__{image.name}"
                link.symlink_to(image)
                label = label_for(image)
                rows = [r.split() for r in label.read_text().splitlines()] if label.is_file() else []
                boxes = [f"{ids[int(float(r[0]))]} " + " ".join(r[1:5]) for r in rows
                         if len(r) >= 5 and int(float(r[0])) in ids]
                (lab_dir / f"{link.stem}.txt").write_text("\n".join(boxes) + ("\n" if boxes else ""))
                stats["images"] += 1
                stats["boxes"] += len(boxes)
                stats["background"] += not boxes
            manifest["sources"][f"{set_name}/{side}"] = stats
    (out / "data.yaml").write_text(yaml.safe_dump({"path": str(out), "train": "train/images", "val": "val/images",
                                                   "nc": len(classes), "names": dict(enumerate(classes))},
                                                  sort_keys=False))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
