"""Training sets with vigil's own classes, assembled from the train and val sides of the honest splits (`vigil models
splits`), issue #18 item 2. Images are symbolic links to the shared files (nothing copied); labels are rewritten:
each set's source classes are mapped by name onto the set's classes, every other class dropped; frames left
without a box stay in as background (what the model must not report).

- `person`: people in fixed street/corridor CCTV (cctv_intelligence `person`) and in ceiling CCTV of care wards
  (care_ward `person` and `patient`: staff and residents are both people), for the staffing and gate rules.
- `fire-smoke-cctv`: the indoor fire/smoke photos the shipped fire model learnt from, plus cctv_intelligence's
  surveillance frames (its `fire` and `smoke`; its 1,000-odd train frames without fire or smoke, most with people
  and street scenes, as background), for fire and smoke on surveillance footage.
- `bag`: cctv_intelligence's bags (bags and parcels put down or carried in corridors and streets; its other train
  frames as background), the obstacle blocked_exit's left-object check is about, which the COCO model does not find
  in CCTV (0 of 126 val frames).

`write_set(name)` writes `<out>/{train,val}/{images,labels}/`, `<out>/data.yaml` and `<out>/manifest.json`. Val is
the union of the sources' val sides (by site, by room, the photos' own valid folder), so no val scene is trained on.

Two options shape the train side only: `repeat={source: n}` links each train image of a source n times (a small
source such as care_ward's 257 ceiling frames weighs more), and `painted=(source, ...)` adds, for each train frame
of such a source that holds people, a copy with every labelled person painted out (OpenCV inpainting of the box,
padded) and no label: the same room with its beds, chairs and wheelchairs and nobody in it, the hard negative an
empty duty room is. Painted copies are the only files written as images (under `<out>`, from the shared frames)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
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
    "bag": (("bag",), {"cctv_intelligence": {"bag": "bag"}}),
}
# the classes that box a person in each source, whatever the set keeps: painted out for `painted` negatives
PEOPLE = {"care_ward": ("fall", "lie", "move", "patient", "person", "sit", "stand"),
          "cctv_intelligence": ("person", "fall", "violence")}


def paint_out(image: np.ndarray, boxes, pad: float = 0.15) -> np.ndarray:
    """`image` with each pixel box (x0, y0, x1, y1), grown by `pad` of its size, filled by inpainting."""
    if not boxes:
        return image
    m = np.zeros(image.shape[:2], np.uint8)
    for x0, y0, x1, y1 in boxes:
        px, py = (x1 - x0) * pad / 2, (y1 - y0) * pad / 2
        m[max(0, int(y0 - py)):int(y1 + py) + 1, max(0, int(x0 - px)):int(x1 + px) + 1] = 255
    return cv2.inpaint(image, m, 3, cv2.INPAINT_TELEA)


def label_boxes(rows: list[list[str]], ids: set[int], w: int, h: int) -> list[list[float]]:
    """Pixel boxes (x0, y0, x1, y1) of the YOLO label rows (a line's fields) whose class id is in `ids`."""
    out = []
    for r in rows:
        if len(r) >= 5 and int(float(r[0])) in ids:
            x, y, bw, bh = (float(v) for v in r[1:5])
            out.append([(x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h])
    return out


def _painted_copy(image: Path, rows: list[list[str]], people: set[int], dest: Path) -> bool:
    """Write `image` with the boxes of class ids `people` painted out to `dest`; False when it holds none."""
    im = cv2.imread(str(image))
    h, w = im.shape[:2]
    boxes = label_boxes(rows, people, w, h)
    if not boxes:
        return False
    return bool(cv2.imwrite(str(dest), paint_out(im, boxes)))


def write_set(name: str, out: Path | None = None, splits: Path = SPLITS_DIR, repeat: dict[str, int] | None = None,
              painted: tuple[str, ...] = ()) -> dict:
    """Write set `name` (replacing an earlier one) under `out` (default .vigil-data/datasets/<name>); returns the
    manifest: per source and side, images, boxes and frames without a box (repeats counted), and per painted source
    the painted negatives."""
    if name not in SETS:
        raise ValueError(f"unknown set {name!r} (known: {', '.join(SETS)})")
    classes, sources = SETS[name]
    repeat = repeat or {}
    for src_name, n in repeat.items():
        if src_name not in sources or n < 1:
            raise ValueError(f"repeat: {src_name}={n}: the source must be one of {', '.join(sources)} and n >= 1")
    for src_name in painted:
        if src_name not in sources or src_name not in PEOPLE:
            raise ValueError(f"painted: {src_name!r} is not a source of {name!r} with labelled people "
                             f"({', '.join(s for s in sources if s in PEOPLE)})")
    out = out or OUT_ROOT / name
    manifest: dict = {"set": name, "out": str(out), "names": dict(enumerate(classes)), "sources": {},
                      "repeat": repeat, "painted": {}}
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
            names = data_names(src / "data.yaml")
            ids = {i: classes.index(mapping[n]) for i, n in names.items() if n in mapping}
            people = {i for i, n in names.items() if n in PEOPLE.get(set_name, ())}
            times = repeat.get(set_name, 1) if side == "train" else 1
            paint = side == "train" and set_name in painted
            stats = {"images": 0, "boxes": 0, "background": 0}
            n_painted = 0
            for line in (src / f"{side}.txt").read_text().splitlines():
                if not line.strip():
                    continue
                image = Path(line.strip())
                label = label_for(image)
                rows = [r.split() for r in label.read_text().splitlines()] if label.is_file() else []
                boxes = [f"{ids[int(float(r[0]))]} " + " ".join(r[1:5]) for r in rows
                         if len(r) >= 5 and int(float(r[0])) in ids]
                for k in range(times):
                    link = img_dir / (f"{set_name}__{image.name}" if k == 0 else f"{set_name}__r{k}__{image.name}")
                    link.symlink_to(image)
                    (lab_dir / f"{link.stem}.txt").write_text("\n".join(boxes) + ("\n" if boxes else ""))
                    stats["images"] += 1
                    stats["boxes"] += len(boxes)
                    stats["background"] += not boxes
                if paint:
                    dest = img_dir / f"painted__{set_name}__{image.stem}.jpg"
                    if _painted_copy(image, rows, people, dest):
                        (lab_dir / f"{dest.stem}.txt").write_text("")
                        n_painted += 1
            manifest["sources"][f"{set_name}/{side}"] = stats
            if paint:
                manifest["painted"][set_name] = n_painted
    (out / "data.yaml").write_text(yaml.safe_dump({"path": str(out), "train": "train/images", "val": "val/images",
                                                   "nc": len(classes), "names": dict(enumerate(classes))},
                                                  sort_keys=False))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
