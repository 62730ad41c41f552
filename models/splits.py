"""Validation splits that are honest about viewpoint, written as data YAMLs plus lists of absolute paths.

Nothing is copied or linked: each split is `<out>/<set>/{train,val}.txt` (absolute paths of images in the shared
folder), `<out>/<set>/data.yaml` (names, train, val) and `<out>/<set>/split.json` (which group went where, counts).
`vigil models splits` writes them under `.vigil-data/splits/` (git-ignored); `vigil models eval --data` reads them.

- `cctv_intelligence`: 691 source frames, each exported 3 times with augmentation (README of the shared folder), from
  32 video clips of 20 sites. Source frames of one clip are seconds apart and near-identical, so a split by source
  frame alone still puts the same scene on both sides. The default group is the **site** (`-C002200_005-_6780_jpg` ->
  `C002`: the first digits of the clip name; `C002100_*` and `C002200_*` are two cameras on the same yard, checked by
  eye): no site, and so no clip and no source frame, is on both sides. `group="clip"` or `"source-frame"` give the
  finer (leakier) splits.
- `care_ward`: the file names carry a camera or recording (`cam_3_...`, `17_...`, `k107_...`;
  `datasets.source_group`), not a room. Looked at by eye, these 31 recordings come from 8 rooms (`CARE_WARD_ROOMS`:
  e.g. recordings 5, 7-11 and k102-k110 are one single room with a wooden floor, 12-15 one blue-walled ward); the
  split keeps each room on one side. A recording missing from the table is its own group (reported in split.json).
  Its labels call residents `patient` and staff `person`; the YAML says `vigil_aliases: {patient: person}` so that
  `vigil models eval` counts both as people (`--map patient=patient` undoes it).
- `fire_smoke_indoor`: its own train / valid folders.

Which groups go to val: for `trial` = 0, 1, ... each a seeded hash order of the groups, groups are taken in that order
until val holds `val_share` of the frames; the trial whose val share and per-class frame shares lie closest to
`val_share` (each class penalised outside [val_share/2, 2*val_share], and heavily when a class held by two or more
groups lands on one side only, or when val sees a class held by four or more groups in fewer than two of them)
wins. Same seed, same data -> same split.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import yaml

from vigil.models.catalogue import PROJECT_ROOT, shared_dir
from vigil.models.datasets import DatasetMissing, data_names, label_for, source_group, split_images

SPLITS_DIR = PROJECT_ROOT / ".vigil-data" / "splits"
CCTV = "data/cctv_intelligence"
CARE_WARD = "data/care_ward"
FIRE_SMOKE = "data/fire_smoke_indoor"
CCTV_GROUPS = ("site", "clip", "source-frame")
TRIALS = 2000

# care-ward recording (datasets.source_group of the file name) -> room, judged by eye from the frames
CARE_WARD_ROOMS: dict[str, str] = {
    **{g: "single-wood-floor" for g in ("5", "7", "8", "9", "10", "11", "k102", "k105", "k106", "k107", "k108",
                                         "k109", "k110")},
    **{g: "ward-blue-walls" for g in ("12", "13", "14", "15")},
    **{g: "ward-yellow-walls" for g in ("16", "17", "18", "19")},  # two camera angles of one ward
    # one home with purple floors seen by five ceiling cameras; their rooms overlap, so they count as one
    **{f"cam_{i}": "purple-floor-home" for i in range(5)},
    "cam_5": "single-blue-wall", "cam_6": "single-teal-wall", "cam_10": "corridor", "cam_12": "day-room",
}

# care_ward labels residents `patient` and staff `person`: both are people to vigil's person class
CARE_WARD_ALIASES = {"patient": "person"}

_CLIP = re.compile(r"^-?(C(\d{3})\d{3}_\d{3})-")


def cctv_group(source_frame: str, group: str = "site") -> str:
    """The group a cctv_intelligence source frame belongs to: its site (`C002`), clip (`C002200_005`) or itself."""
    if group == "source-frame":
        return source_frame
    m = _CLIP.match(source_frame)
    if not m:
        return source_frame  # an unexpected name stays a group of its own
    return m.group(1) if group == "clip" else "C" + m.group(2)


def care_ward_room(image: Path) -> str:
    g = source_group(image)
    return CARE_WARD_ROOMS.get(g, f"recording:{g}")


def _hash(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def label_classes(image: Path) -> set[int]:
    lab = label_for(image)
    if not lab.exists():
        return set()
    return {int(ln.split()[0]) for ln in lab.read_text(encoding="utf-8").splitlines() if ln.strip()}


def choose_val_groups(groups: dict[str, list[Path]], classes: dict[Path, set[int]], val_share: float = 0.2,
                      seed: int = 0, trials: int = TRIALS) -> set[str]:
    """The groups that form val (see the module doc): deterministic for a seed."""
    if not 0 < val_share < 1:
        raise ValueError(f"val share {val_share} is not between 0 and 1")
    total = sum(len(v) for v in groups.values())
    per_class_total: dict[int, int] = {}
    group_class: dict[str, dict[int, int]] = {}
    for g, members in groups.items():
        counts: dict[int, int] = {}
        for img in members:
            for c in classes.get(img, ()):
                counts[c] = counts.get(c, 0) + 1
                per_class_total[c] = per_class_total.get(c, 0) + 1
        group_class[g] = counts
    lo, hi = val_share / 2, min(2 * val_share, 1.0)
    holders = {c: sum(1 for g in groups if group_class[g].get(c)) for c in per_class_total}
    best: tuple[float, int, set[str]] | None = None
    for t in range(trials):
        order = sorted(groups, key=lambda g: _hash(seed, t, g))
        val, n = set(), 0
        for g in order:
            if n >= val_share * total:
                break
            val.add(g)
            n += len(groups[g])
        if len(val) == len(groups):
            continue  # nothing left to train on
        score = abs(n / total - val_share)
        for c, tot in per_class_total.items():
            share = sum(group_class[g].get(c, 0) for g in val) / tot
            score += max(0.0, lo - share) + max(0.0, share - hi)
            if share in (0.0, 1.0) and holders[c] >= 2:
                score += 1.0  # a class that two groups hold must be on both sides
            # a class held by four or more groups: val should see it in two of them (not one scene only)
            score += 0.3 * max(0, min(2, holders[c] // 2) - sum(1 for g in val if group_class[g].get(c)))
        if best is None or score < best[0] - 1e-12:
            best = (score, t, val)
    if best is None:
        raise ValueError("fewer than two groups: no split keeps groups apart")
    return best[2]


def _write(out: Path, name: str, names: dict[int, str], train: list[Path], val: list[Path], manifest: dict,
           aliases: dict[str, str] | None = None) -> Path:
    dest = out / name
    dest.mkdir(parents=True, exist_ok=True)
    for key, files in (("train", train), ("val", val)):
        (dest / f"{key}.txt").write_text("".join(f"{p.resolve()}\n" for p in sorted(files)), encoding="utf-8")
    data = {"train": str((dest / "train.txt").resolve()), "val": str((dest / "val.txt").resolve()),
            "nc": len(names), "names": dict(names)}
    if aliases:
        data["vigil_aliases"] = dict(aliases)
    header = (f"# generated by `vigil models splits` (vigil.models.splits): {name}, {manifest.get('rule', '')}\n"
              "# the lists name images in the shared folder by absolute path; nothing is copied\n")
    (dest / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    manifest = {"set": name, "train_images": len(train), "val_images": len(val), **manifest}
    (dest / "split.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return dest / "data.yaml"


def _class_counts(files: list[Path], classes: dict[Path, set[int]], names: dict[int, str]) -> dict[str, int]:
    out = {n: 0 for n in names.values()}
    for p in files:
        for c in classes.get(p, ()):
            out[names.get(c, str(c))] = out.get(names.get(c, str(c)), 0) + 1
    return out


def _grouped_split(name: str, out: Path, names: dict[int, str], groups: dict[str, list[Path]], val_share: float,
                   seed: int, rule: str, extra: dict | None = None, aliases: dict[str, str] | None = None) -> Path:
    classes = {p: label_classes(p) for members in groups.values() for p in members}
    val_groups = choose_val_groups(groups, classes, val_share, seed)
    val = [p for g in val_groups for p in groups[g]]
    train = [p for g in groups if g not in val_groups for p in groups[g]]
    manifest = {"rule": rule, "seed": seed, "val_share_asked": val_share,
                "val_share": round(len(val) / max(1, len(val) + len(train)), 4),
                "val_groups": sorted(val_groups), "train_groups": sorted(set(groups) - val_groups),
                "group_sizes": {g: len(v) for g, v in sorted(groups.items())},
                "val_frames_per_class": _class_counts(val, classes, names),
                "train_frames_per_class": _class_counts(train, classes, names), **(extra or {})}
    return _write(out, name, names, train, val, manifest, aliases)


def cctv_intelligence_split(out: Path, val_share: float = 0.2, seed: int = 0, group: str = "site") -> Path:
    if group not in CCTV_GROUPS:
        raise ValueError(f"unknown cctv group {group!r} (known: {', '.join(CCTV_GROUPS)})")
    root = shared_dir() / CCTV
    table = root / "lists" / "source_frame_groups.csv"
    if not table.is_file():
        raise DatasetMissing(f"cctv_intelligence missing: {table} (set VIGIL_SHARED or place shared/ beside the checkout)")
    groups: dict[str, list[Path]] = {}
    source_of: dict[Path, str] = {}
    with open(table, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            img = (root / row["image"]).resolve()
            source_of[img] = row["source_frame"]
            groups.setdefault(cctv_group(row["source_frame"], group), []).append(img)
    listed = set(source_of)
    unlisted = [p for p in split_images(root / "images") if p.resolve() not in listed]
    if unlisted:
        raise ValueError(f"{len(unlisted)} cctv_intelligence images are not in {table.name}, e.g. {unlisted[0].name}")
    return _grouped_split("cctv_intelligence", out, data_names(root / "data.yaml"), groups, val_share, seed,
                          f"by {group} (all three augmented copies of a source frame on one side)",
                          {"group": group, "source_frames": len(set(source_of.values()))})


def care_ward_split(out: Path, val_share: float = 0.2, seed: int = 0) -> Path:
    root = shared_dir() / CARE_WARD
    images_dir = root / "valid" / "images"
    if not images_dir.is_dir():
        raise DatasetMissing(f"care_ward missing: {images_dir} (set VIGIL_SHARED or place shared/ beside the checkout)")
    groups: dict[str, list[Path]] = {}
    unmapped: set[str] = set()
    for img in split_images(images_dir):
        room = care_ward_room(img)
        if room.startswith("recording:"):
            unmapped.add(room)
        groups.setdefault(room, []).append(img.resolve())
    recordings = sorted({source_group(p) for m in groups.values() for p in m})
    return _grouped_split("care_ward", out, data_names(root / "data.yaml"), groups, val_share, seed,
                          "by room (recordings mapped to rooms by eye: vigil.models.splits.CARE_WARD_ROOMS)",
                          {"recordings": len(recordings), "rooms": len(groups),
                           "unmapped_recordings": sorted(unmapped)}, CARE_WARD_ALIASES)


def fire_smoke_indoor_split(out: Path) -> Path:
    root = shared_dir() / FIRE_SMOKE
    for folder in ("train", "valid"):
        if not (root / folder / "images").is_dir():
            raise DatasetMissing(f"fire_smoke_indoor missing: {root / folder / 'images'}")
    train = [p.resolve() for p in split_images(root / "train" / "images")]
    val = [p.resolve() for p in split_images(root / "valid" / "images")]
    names = {0: "fire", 1: "smoke"}
    classes = {p: label_classes(p) for p in train + val}
    return _write(out, "fire_smoke_indoor", names, train, val,
                  {"rule": "the set's own train / valid folders", "val_frames_per_class": _class_counts(val, classes, names),
                   "train_frames_per_class": _class_counts(train, classes, names)})


def write_splits(out: Path | None = None, val_share: float = 0.2, seed: int = 0, cctv_group_by: str = "site",
                 sets: tuple[str, ...] = ("cctv_intelligence", "care_ward", "fire_smoke_indoor")) -> dict[str, dict]:
    """Write the chosen splits under `out` (default .vigil-data/splits); returns {set: split.json content + yaml}."""
    out = Path(out or SPLITS_DIR)
    written = {}
    for name in sets:
        if name == "cctv_intelligence":
            path = cctv_intelligence_split(out, val_share, seed, cctv_group_by)
        elif name == "care_ward":
            path = care_ward_split(out, val_share, seed)
        elif name == "fire_smoke_indoor":
            path = fire_smoke_indoor_split(out)
        else:
            raise ValueError(f"unknown set {name!r} (known: cctv_intelligence, care_ward, fire_smoke_indoor)")
        info = json.loads((path.parent / "split.json").read_text(encoding="utf-8"))
        written[name] = {"data": str(path), **info}
    return written
