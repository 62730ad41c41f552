"""A person-only training set from the train sides of the honest splits (`vigil models splits`): people in fixed
street/corridor CCTV (cctv_intelligence, `person`) and in ceiling CCTV of care wards (care_ward, `person` and
`patient`: staff and residents are both people). Issue #18, item 2: the persons the staffing and gate rules need.

`write_person_set()` writes `<out>/{train,val}/images/*` as symbolic links to the shared files (nothing copied) and
`<out>/{train,val}/labels/*.txt` with only the people, as class 0, plus `<out>/data.yaml` and `<out>/manifest.json`.
Frames without people stay in as background (fire, smoke, bags, empty corridors: what a person model must not call
a person). Val is the union of the two val sides (by site and by room), so no scene of val is trained on."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from vigil.models.catalogue import PROJECT_ROOT
from vigil.models.datasets import label_for
from vigil.models.splits import SPLITS_DIR

OUT = PROJECT_ROOT / ".vigil-data" / "datasets" / "person_cctv"
PERSON_NAMES = {"cctv_intelligence": ("person",), "care_ward": ("person", "patient")}


def _names(data_yaml: Path) -> dict[int, str]:
    return {int(k): str(v) for k, v in yaml.safe_load(data_yaml.read_text())["names"].items()}


def write_person_set(out: Path = OUT, splits: Path = SPLITS_DIR) -> dict:
    """Write the set (replacing an earlier one); returns the manifest (images, people and background per side)."""
    manifest: dict = {"out": str(out), "sources": {}, "names": {0: "person"}}
    for side in ("train", "val"):
        img_dir, lab_dir = out / side / "images", out / side / "labels"
        for d in (img_dir, lab_dir):
            d.mkdir(parents=True, exist_ok=True)
            for old in d.iterdir():
                old.unlink()
        for set_name, wanted in PERSON_NAMES.items():
            src = splits / set_name
            if not (src / f"{side}.txt").is_file():
                raise FileNotFoundError(f"{src / (side + '.txt')}: run `vigil models splits` first")
            keep = {i for i, n in _names(src / "data.yaml").items() if n in wanted}
            stats = {"images": 0, "people": 0, "background": 0}
            for line in (src / f"{side}.txt").read_text().splitlines():
                image = Path(line.strip())
                if not line.strip():
                    continue
                link = img_dir / f"{set_name}__{image.name}"
                link.symlink_to(image)
                label = label_for(image)
                rows = [r.split() for r in label.read_text().splitlines()] if label.is_file() else []
                people = ["0 " + " ".join(r[1:5]) for r in rows if len(r) >= 5 and int(float(r[0])) in keep]
                (lab_dir / f"{link.stem}.txt").write_text("\n".join(people) + ("\n" if people else ""))
                stats["images"] += 1
                stats["people"] += len(people)
                stats["background"] += not people
            manifest["sources"][f"{set_name}/{side}"] = stats
    (out / "data.yaml").write_text(yaml.safe_dump({"path": str(out), "train": "train/images", "val": "val/images",
                                                   "nc": 1, "names": {0: "person"}}, sort_keys=False))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
