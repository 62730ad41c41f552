"""Training/evaluation data for the fire/smoke model: the generated ultralytics data YAML and small subsets.

The data is `fire_smoke_indoor` in the shared folder (`vigil.models.catalogue.shared_dir()`), classes
0 fire, 1 smoke, laid out as `{train,valid}/{images,labels}`. Every split handed to ultralytics is a
folder of symlinks inside the run (or a temporary) folder: all images, a seeded subset (smoke tests, quick
runs) or an oversampled train split. ultralytics writes its `labels.cache` beside the labels it reads, so
this keeps the shared folder untouched.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import yaml

from vigil.models.catalogue import shared_dir

FIRE_SMOKE_DATASET = "data/fire_smoke_indoor"
CARE_WARD_IMAGES = "data/care_ward/valid/images"  # real fire-free ceiling CCTV (the only fire-free CCTV shared)
FIRE_SMOKE_NAMES = {0: "fire", 1: "smoke"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = {"train": "train", "val": "valid"}  # ultralytics key -> folder in the shared data set
NEGATIVE_PREFIX = "neg__"  # background images in a generated train split: neg__<stem>, empty label


class DatasetMissing(FileNotFoundError):
    pass


def fire_smoke_root() -> Path:
    root = shared_dir() / FIRE_SMOKE_DATASET
    for folder in SPLITS.values():
        if not (root / folder / "images").is_dir():
            raise DatasetMissing(f"fire/smoke data missing: {root / folder / 'images'} "
                                 "(set VIGIL_SHARED or place shared/ beside the checkout)")
    return root


def split_images(images_dir: Path) -> list[Path]:
    return sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def label_for(image: Path) -> Path:
    """The YOLO label file of an image, as ultralytics finds it (last '/images/' -> '/labels/', .txt)."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    s = str(image)
    if sa in s:
        s = sb.join(s.rsplit(sa, 1))
    return Path(s).with_suffix(".txt")


def pick(images: list[Path], n: int | None, seed: int) -> list[Path]:
    """The first n images of a seeded shuffle (all, in order, when n is None)."""
    if n is None or n >= len(images):
        return list(images)
    shuffled = list(images)
    random.Random(seed).shuffle(shuffled)
    return sorted(shuffled[:n])


def _link(image: Path, dest: Path, stem: str) -> None:
    """dest/images/<stem><suffix> and dest/labels/<stem>.txt as symlinks to an image and its label."""
    for src, dst in ((image, dest / "images" / (stem + image.suffix)), (label_for(image), dest / "labels" / (stem + ".txt"))):
        if src.exists() and not dst.exists():
            os.symlink(src.resolve(), dst)


def _link_subset(images: list[Path], dest: Path) -> Path:
    """dest/images/* and dest/labels/* as symlinks to the chosen images and their labels."""
    (dest / "images").mkdir(parents=True, exist_ok=True)
    (dest / "labels").mkdir(parents=True, exist_ok=True)
    for img in images:
        _link(img, dest, img.stem)
    return dest / "images"


def classes_in(image: Path) -> set[int]:
    lab = label_for(image)
    if not lab.exists():
        return set()
    return {int(ln.split()[0]) for ln in lab.read_text(encoding="utf-8").splitlines() if ln.strip()}


def _oversampled(images: list[Path], factors: dict[int, int], dest: Path) -> Path:
    """A train folder of symlinks in which an image holding class c appears factors[c] times (the highest
    factor of its classes): scarce classes (smoke) are seen more often per epoch. Copies are named
    `<stem>__rN`; the cache ultralytics writes lands in `dest`, never in the shared folder."""
    _link_subset(images, dest)
    for img in images:
        times = max([factors.get(c, 1) for c in classes_in(img)] or [1])
        for r in range(1, times):
            _link(img, dest, f"{img.stem}__r{r}")
    return dest / "images"


def source_group(image: Path) -> str:
    """The camera or recording a care-ward frame comes from, read from its Roboflow file name:
    `cam_3_202309220645-avi_...` -> `cam_3` (one camera on several days is one room), `17_100023_png...` -> `17`."""
    parts = image.name.split("_")
    return "_".join(parts[:2]) if parts[0] == "cam" and len(parts) > 2 else parts[0]


def care_ward_split() -> dict[str, list[Path]]:
    """The care-ward frames in two halves that share no camera or recording: `negatives` (fire-free frames that
    may be trained on as background) and `held_out` (never trained on: the false-positive tests). Groups are
    taken largest first, each into the half that is smaller so far (ties: held_out), so the split is
    deterministic and balanced; frames of one room never land on both sides."""
    images_dir = shared_dir() / CARE_WARD_IMAGES
    if not images_dir.is_dir():
        raise DatasetMissing(f"care-ward frames missing: {images_dir} (set VIGIL_SHARED or place shared/ beside the checkout)")
    groups: dict[str, list[Path]] = {}
    for img in split_images(images_dir):
        groups.setdefault(source_group(img), []).append(img)
    halves: dict[str, list[Path]] = {"held_out": [], "negatives": []}
    for _, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        side = "negatives" if len(halves["negatives"]) < len(halves["held_out"]) else "held_out"
        halves[side] += members
    return {k: sorted(v) for k, v in halves.items()}


def negative_images(spec: str) -> list[Path]:
    """Background images for training: `care-ward` (the negatives half of `care_ward_split()`) or a folder of
    images that hold no fire or smoke."""
    if spec == "care-ward":
        return care_ward_split()["negatives"]
    folder = Path(spec)
    if not folder.is_dir():
        raise ValueError(f"negatives: {spec!r} is neither 'care-ward' nor a folder of images")
    images = split_images(folder)
    if not images:
        raise ValueError(f"negatives: no images in {folder}")
    return images


def _add_negatives(images: list[Path], dest: Path) -> None:
    """Link fire-free images into a train folder as `neg__<stem>` with an empty label file each: ultralytics
    trains on them as background. Their own labels (care-ward people, beds) are never linked."""
    for img in images:
        link = dest / "images" / f"{NEGATIVE_PREFIX}{img.stem}{img.suffix}"
        if not link.exists():
            os.symlink(img.resolve(), link)
        (dest / "labels" / f"{NEGATIVE_PREFIX}{img.stem}.txt").write_text("", encoding="utf-8")


def write_fire_smoke_yaml(dest_dir: Path, train_images: int | None = None, val_images: int | None = None,
                          seed: int = 0, oversample: dict[int, int] | None = None,
                          negatives: list[Path] | None = None) -> Path:
    """Write `dest_dir/data.yaml` for the shared fire/smoke data; returns its path.

    With `train_images` / `val_images` the split is a seeded subset of that many images (symlinks under
    `dest_dir/subset/`); otherwise all of it, as symlinks under `dest_dir/full/`, so that the label cache
    ultralytics writes never lands in the shared folder. `negatives` are added to the train split as
    background images (empty labels)."""
    root = fire_smoke_root().resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, folder in SPLITS.items():
        limit = train_images if key == "train" else val_images
        chosen = pick(split_images(root / folder / "images"), limit, seed)
        # all of it is linked too: ultralytics writes labels.cache beside the labels it reads
        if key == "train" and oversample:
            paths[key] = str(_oversampled(chosen, oversample, dest_dir.resolve() / "oversampled" / folder))
        else:
            paths[key] = str(_link_subset(chosen, dest_dir.resolve() / ("full" if limit is None else "subset") / folder))
        if key == "train" and negatives:
            _add_negatives(negatives, Path(paths[key]).parent)
    data = {"path": str(root), "train": paths["train"], "val": paths["val"],
            "nc": len(FIRE_SMOKE_NAMES), "names": dict(FIRE_SMOKE_NAMES)}
    out = dest_dir / "data.yaml"
    header = ("# generated by vigil.models.datasets.write_fire_smoke_yaml: shared fire_smoke_indoor "
              f"(train_images={train_images}, val_images={val_images}, seed={seed}, oversample={oversample}, "
              f"negatives={len(negatives or [])})\n")
    out.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def load_data_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def _resolve_split(data: dict, key: str, yaml_path: Path) -> list[Path]:
    value = data.get(key)
    if value is None:
        raise ValueError(f"{yaml_path}: no '{key}' split")
    base = Path(data.get("path") or yaml_path.parent)
    if not base.is_absolute():
        base = (yaml_path.parent / base).resolve()
    out: list[Path] = []
    for entry in value if isinstance(value, list) else [value]:
        p = Path(entry) if Path(entry).is_absolute() else base / entry
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix == ".txt":
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
            out += [Path(ln.replace("./", str(p.parent) + "/", 1)) if ln.startswith("./") else Path(ln) for ln in lines]
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    return out


def split_image_files(yaml_path: Path, key: str = "val") -> list[Path]:
    """The image files of one split of a data YAML (directories, .txt lists and image paths)."""
    yaml_path = Path(yaml_path)
    return _resolve_split(load_data_yaml(yaml_path), key, yaml_path)


def data_names(yaml_path: Path) -> dict[int, str]:
    names = load_data_yaml(Path(yaml_path)).get("names") or {}
    if isinstance(names, list):
        names = dict(enumerate(names))
    return {int(k): str(v) for k, v in names.items()}


def val_subset_yaml(yaml_path: Path, dest_dir: Path, n: int, seed: int = 0) -> Path:
    """A copy of a data YAML whose val split is a seeded subset of n of its images (symlinks in dest_dir)."""
    yaml_path = Path(yaml_path)
    data = load_data_yaml(yaml_path)
    chosen = pick(split_image_files(yaml_path, "val"), n, seed)
    dest_dir.mkdir(parents=True, exist_ok=True)
    data["val"] = str(_link_subset(chosen, dest_dir.resolve() / "subset" / "val"))
    data["train"] = data["val"]  # never read by val, but ultralytics' checker wants it to exist
    data.pop("path", None)
    out = dest_dir / "data.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
