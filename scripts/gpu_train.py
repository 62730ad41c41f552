"""Train several runs at once on a lent GPU machine from a pack of `scripts/gpu_pack.py` (issue #18).

Each run is its own process sharing the one GPU and the machine's cores; each trains for at most `--hours` (ultralytics'
`time`: the epoch count is fitted to it after the first epoch, and the learning-rate schedule with it), and leaves in
`--out` `NAME.pt` (its last epoch, optimizer stripped) and `NAME.json` (arguments, versions, GPU, pack, per-epoch
results, seconds, log tail). The figures that count are measured afterwards on the CPU machine, on the whole val
sides, with `vigil models eval`.

    python scripts/gpu_train.py --pack .devpack --init .devpack/init/coco_v8_640.pt --out $OUT --hours 0.1 \
        --run person-640:person:640:32 --run fire-480:fire-smoke-cctv:480:64

The machine has no network: ultralytics runs offline, its AMP self-check (which loads a downloaded yolo26n.pt) is
taken as passed, and its results reader (polars, not installed there) is replaced by the csv module."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORK = Path("/tmp/vigil-gpu")


def build_set(pack: Path, name: str, work: Path = WORK) -> Path:
    """The set's folders (images linked to the pack, labels written) and data.yaml under WORK; returns the yaml."""
    manifest = json.loads((pack / "manifest.json").read_text())
    entry = manifest["sets"][name]
    root = work / "sets" / name
    if root.exists():
        shutil.rmtree(root)
    for side in ("train", "val"):
        (root / side / "images").mkdir(parents=True)
        (root / side / "labels").mkdir(parents=True)
        for stem, image, label in entry[side]:
            (root / side / "images" / f"{stem}.webp").symlink_to((pack / "img" / image).resolve())
            (root / side / "labels" / f"{stem}.txt").write_text(label)
    names = "\n".join(f"  {k}: {v}" for k, v in entry["names"].items())
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root}\ntrain: train/images\nval: val/images\nnames:\n{names}\n")
    return yaml


def results_rows(path: Path) -> list[dict]:
    """ultralytics' results.csv as rows (its column names are padded with spaces); [] before the first epoch."""
    try:
        with open(path, newline="") as f:
            return [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError:
        return []


def child(a: argparse.Namespace) -> None:
    import ultralytics.engine.trainer as trainer
    import yaml
    from ultralytics import YOLO

    trainer.check_amp = lambda model: True

    def read_results_csv(self):
        rows = results_rows(Path(self.csv))
        return {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}

    trainer.BaseTrainer.read_results_csv = read_results_csv
    YOLO(a.init).train(data=a.data, imgsz=a.imgsz, batch=a.batch, epochs=a.epochs, time=a.hours, device=a.device, fraction=a.fraction,
                       workers=a.workers, project=str(WORK / "runs"), name=a.name, exist_ok=True, plots=False,
                       cache="ram", seed=0, deterministic=False, val=False, patience=10_000, verbose=True,
                       **{k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in a.arg)})


def record(a: argparse.Namespace, spec: dict, seconds: float, rc: int | None) -> dict:
    import torch
    import ultralytics

    run = WORK / "runs" / spec["name"]
    rows = results_rows(run / "results.csv")
    last = run / "weights" / "last.pt"
    pack = json.loads((a.pack / "manifest.json").read_text())
    log = (WORK / f"{spec['name']}.log").read_text(errors="replace").splitlines()
    return {
        "run": spec, "hours_cap": a.hours, "extra_args": a.arg, "seconds": round(seconds, 1), "returncode": rc,
        "init": str(a.init), "init_sha256": hashlib.sha256(Path(a.init).read_bytes()).hexdigest(),
        "pack": {"images": pack["images"], "MiB": round(pack["bytes"] / 2**20, 1), "quality": pack["quality"],
                 "set": {k: len(pack["sets"][spec["set"]][k]) for k in ("train", "val")}},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "ultralytics": ultralytics.__version__},
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_count": os.cpu_count(), "epochs_done": len(rows), "results": rows,
        "last_pt_sha256": hashlib.sha256(last.read_bytes()).hexdigest() if last.is_file() else None,
        "log_tail": log[-40:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--init", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--epochs", type=int, default=400, help="upper bound; --hours decides")
    ap.add_argument("--run", action="append", default=[], help="NAME:SET:IMGSZ:BATCH")
    ap.add_argument("--device", default="0", help="a dry run on the CPU machine: cpu")
    ap.add_argument("--fraction", type=float, default=1.0, help="share of each train side (dry runs)")
    ap.add_argument("--arg", action="append", default=[], help="K=V: a further ultralytics train argument")
    ap.add_argument("--grace", type=float, default=150, help="seconds past --hours before a run is killed")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--name"), ap.add_argument("--data"), ap.add_argument("--imgsz", type=int)
    ap.add_argument("--batch", type=int), ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(WORK / "yolo"))
    WORK.mkdir(parents=True, exist_ok=True)
    if a.child:
        return child(a)
    specs = [dict(zip(("name", "set", "imgsz", "batch"), r.split(":"))) for r in a.run]
    workers = max(2, (os.cpu_count() or 8) // max(1, len(specs)) - 1)
    yamls = {s: build_set(a.pack, s) for s in {sp["set"] for sp in specs}}
    procs = []
    t0 = time.time()
    for sp in specs:
        cmd = [sys.executable, __file__, "--child", "--pack", str(a.pack), "--init", str(a.init), "--out", str(a.out),
               "--hours", str(a.hours), "--epochs", str(a.epochs), "--name", sp["name"], "--data", str(yamls[sp["set"]]),
               "--imgsz", sp["imgsz"], "--batch", sp["batch"], "--workers", str(workers), "--device", a.device,
               "--fraction", str(a.fraction), *[x for kv in a.arg for x in ("--arg", kv)]]
        log = open(WORK / f"{sp['name']}.log", "w")
        procs.append((sp, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), time.time()))
    deadline = t0 + a.hours * 3600 + a.grace  # the fitted epochs overrun a little; the closing val is short
    done = {}
    while len(done) < len(procs):
        for sp, p, started in procs:
            if sp["name"] not in done and p.poll() is not None:
                done[sp["name"]] = (p.returncode, time.time() - started)
                print(f"{sp['name']}: exit {p.returncode} after {done[sp['name']][1]:.0f} s", flush=True)
        if time.time() > deadline:
            for sp, p, started in procs:
                if sp["name"] not in done:
                    p.kill()
                    done[sp["name"]] = (None, time.time() - started)
                    print(f"{sp['name']}: killed at the deadline", flush=True)
        time.sleep(2)
    a.out.mkdir(parents=True, exist_ok=True)
    for sp, _, _ in procs:
        rc, secs = done[sp["name"]]
        rec = record(a, sp, secs, rc)
        (a.out / f"{sp['name']}.json").write_text(json.dumps(rec, indent=1))
        last = WORK / "runs" / sp["name"] / "weights" / "last.pt"
        if last.is_file():
            shutil.copy(last, a.out / f"{sp['name']}.pt")
        final = rec["results"][-1] if rec["results"] else {}
        print(sp["name"], "epochs", rec["epochs_done"], "secs", rec["seconds"],
              {k: final.get(k) for k in ("metrics/mAP50(B)", "metrics/recall(B)")}, flush=True)
        print("\n".join(rec["log_tail"][-6:]), flush=True)


if __name__ == "__main__":
    main()
