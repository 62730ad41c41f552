"""Pack class sets for a training run on a lent GPU machine (issue #18), within the device tool's 64 MiB.

The GPU machine cannot reach ../shared and takes at most 64 MiB of working tree, so the train sides of the class
sets (`vigil models class-set NAME`, images linked from ../shared) travel re-encoded: each distinct image once as
WebP (frames are already at most 640 px; `--quality` per source), each set's labels in `manifest.json`, and a few val images per
set for ultralytics' closing validation (the figures that count are measured here on the whole val sides with
`vigil models eval`). `scripts/gpu_train.py` rebuilds the sets there and trains them.

    python scripts/gpu_pack.py --out .devpack --set person --set fire-smoke-cctv \
        --quality cctv_intelligence=50 --quality care_ward=65 --quality fire_smoke_indoor=65

The encoding loses a little (WebP at 50-70 on noisy 640x360 CCTV frames): the runs' record says so."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import yaml

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / ".vigil-data" / "datasets"


def source_of(name: str) -> str:
    return name.split("__", 1)[0]


def pack(out: Path, sets: list[str], quality: dict[str, int], default_q: int, val_per_set: int,
         max_side: int = 640, sets_root: Path = SETS) -> dict:
    if out.exists():
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    encoded: dict[str, str] = {}  # resolved source file -> packed file name
    manifest: dict = {"sets": {}, "quality": quality, "default_quality": default_q}
    for s in sets:
        data = sets_root / s
        if not (data / "data.yaml").is_file():
            raise SystemExit(f"{data}/data.yaml missing: run `vigil models class-set {s}` first")
        names = yaml.safe_load((data / "data.yaml").read_text())["names"]
        entry = {"names": names, "train": [], "val": []}
        for side in ("train", "val"):
            images = sorted((data / side / "images").iterdir())
            if side == "val":  # every val source represented, a few frames each
                by_src: dict[str, list[Path]] = {}
                for p in images:
                    by_src.setdefault(source_of(p.name), []).append(p)
                k = max(1, val_per_set // max(1, len(by_src)))
                images = [p for ps in by_src.values() for p in ps[::max(1, len(ps) // k)][:k]]
            for p in images:
                real = str(p.resolve())
                if real not in encoded:
                    q = quality.get(source_of(p.name), default_q)
                    im = cv2.imread(real)
                    if im is None:
                        raise SystemExit(f"cannot read {real}")
                    scale = max_side / max(im.shape[:2])
                    if scale < 1:  # the photos run to 1,100 px; training is at 640 at most
                        im = cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                    fname = f"{len(encoded):05d}.webp"
                    ok, buf = cv2.imencode(".webp", im, [cv2.IMWRITE_WEBP_QUALITY, q])
                    (out / "img" / fname).write_bytes(buf.tobytes())
                    encoded[real] = fname
                label = data / side / "labels" / (p.stem + ".txt")
                text = label.read_text() if label.is_file() else ""
                # the set's file name (its source prefix) kept on the GPU side; labels travel in the manifest
                entry[side].append([p.stem, encoded[real], text])
        manifest["sets"][s] = entry
    manifest["images"] = len(encoded)
    manifest["bytes"] = sum(f.stat().st_size for f in (out / "img").iterdir())
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".devpack")
    ap.add_argument("--set", dest="sets", action="append", required=True)
    ap.add_argument("--quality", action="append", default=[], help="SOURCE=Q (WebP quality per source)")
    ap.add_argument("--default-quality", type=int, default=70)
    ap.add_argument("--val-per-set", type=int, default=24)
    a = ap.parse_args()
    quality = {k: int(v) for k, v in (q.split("=", 1) for q in a.quality)}
    m = pack(a.out, a.sets, quality, a.default_quality, a.val_per_set)
    print(json.dumps({"images": m["images"], "MiB": round(m["bytes"] / 2**20, 1),
                      **{s: {k: len(e[k]) for k in ("train", "val")} for s, e in m["sets"].items()}}))


if __name__ == "__main__":
    main()
