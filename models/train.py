"""Train the fire/smoke detector (ultralytics yolov5n, anchor-free head) and write a run record.

Reproducible: fixed seed with ultralytics' deterministic mode, the data YAML generated into the run folder
(its splits are symlink folders there, pointing at the shared `fire_smoke_indoor` files), every argument, the init weights with their
sha256, the versions and the git commit recorded in `run.json` beside ultralytics' `results.csv` and
`weights/{best,last}.pt`.

Inits: `coco` converts the shared original-format YOLOv5n COCO checkpoint (backbone + neck, layers 0..23)
into the run folder and fine-tunes from it; `coco-v8` does the same with the shared YOLOv8n COCO TFLite file
(`yolov8n.yaml`: backbone, neck and box head; `yolov8_convert.py`); `scratch` builds `yolov5n.yaml` with
random weights.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from vigil.models.catalogue import PROJECT_ROOT, sha256_file
from vigil.models.datasets import (FIRE_SMOKE_NAMES, NEGATIVE_PREFIX, data_names, load_data_yaml,
                                   negative_images, split_image_files, write_fire_smoke_yaml)
from vigil.models.evaluate import metrics_summary
from vigil.models.ultralytics_env import cpu_threads, logs_to_stderr

DEFAULT_OUT = PROJECT_ROOT / ".vigil-data" / "train"
INITS = ("coco", "coco-v8", "scratch")
TASKS = ("fire-smoke", "person", "bag")


@dataclass
class TrainConfig:
    data: str | None = None  # a data YAML; None: generate one for the shared fire_smoke_indoor
    epochs: int = 100
    imgsz: int = 320
    device: str = "cpu"
    init: str = "coco"
    batch: int = 16
    fraction: float = 1.0  # ultralytics: share of the train split used
    out: str | None = None  # parent folder of the run folder
    seed: int = 0
    workers: int = 2
    threads: int | None = None  # torch CPU threads for training; None: ultralytics' choice (cpu_count - 1)
    patience: int = 100
    train_images: int | None = None  # seeded subset sizes (smoke tests, quick runs); None: whole split
    val_images: int | None = None
    name: str | None = None  # run folder name; default <task>-<init>-<imgsz>-<timestamp>
    extra: dict = field(default_factory=dict)  # further ultralytics train arguments (augmentation, lr, ...)
    oversample: dict = field(default_factory=dict)  # class name -> times an image holding it is repeated per epoch
    negatives: str | None = None  # background images added to train: 'care-ward' (its negatives half) or a folder
    task: str = "fire-smoke"  # what is trained (run name and record): fire-smoke, person or bag

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        if self.init not in INITS and not (self.init.endswith(".pt") and Path(self.init).is_file()):
            raise ValueError(f"init must be one of {INITS} or an existing .pt checkpoint, not {self.init!r}")
        if self.data and (self.train_images or self.val_images or self.negatives or self.oversample):
            raise ValueError("--train-images, --val-images, --negatives and --oversample apply to the generated "
                             "fire/smoke data, not to --data or a class set (a class set repeats a source with "
                             "`vigil models class-set NAME --repeat SOURCE=N`)")
        if self.negatives:
            negative_images(self.negatives)  # a bad spec or an empty folder: ValueError before the run starts


def git_state() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def environment(device: str) -> dict:
    import torch
    import ultralytics

    env = {"python": platform.python_version(), "torch": torch.__version__, "ultralytics": ultralytics.__version__,
           "platform": platform.platform(), "cpu_count": os.cpu_count(), "device": device}
    if device not in ("cpu", "") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def read_results_csv(path: Path) -> list[dict]:
    """ultralytics' per-epoch results.csv as a list of dicts of numbers (column names stripped)."""
    if not path.exists():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            clean = {}
            for k, v in row.items():
                k = (k or "").strip()
                try:
                    clean[k] = int(v) if k == "epoch" else round(float(v), 5)
                except (TypeError, ValueError):
                    clean[k] = v
            rows.append(clean)
    return rows


def prepare_init(cfg: TrainConfig, run_dir: Path) -> tuple[str, dict]:
    """(model argument for ultralytics.YOLO, init record) for cfg.init."""
    if cfg.init == "scratch":
        from vigil.models.yolov5_convert import TARGET_CFG
        return TARGET_CFG, {"kind": "scratch", "cfg": TARGET_CFG, "transfer": None}
    if cfg.init not in INITS:  # an earlier run's checkpoint: fine-tune it further
        path = Path(cfg.init).resolve()
        return str(path), {"kind": "checkpoint", "checkpoint": str(path), "checkpoint_sha256": sha256_file(path),
                           "transfer": None}
    names = data_names(Path(cfg.data)) if cfg.data else dict(FIRE_SMOKE_NAMES)
    if cfg.init == "coco-v8":
        from vigil.models.yolov8_convert import convert as convert_v8

        report = convert_v8(run_dir / "init_yolov8n_coco.pt", names=names, imgsz=cfg.imgsz)
        keys = ("tensors_transferred", "tensors_total", "tensors_left", "params_transferred", "params_total",
                "params_left", "fresh", "calibration_images", "calibration_imgsz", "parity",
                "unfold_output_drift_max")
        return report["out"], {"kind": "coco-v8", "source": report["source"],
                               "source_sha256": report["source_sha256"], "checkpoint": report["out"],
                               "checkpoint_sha256": report["out_sha256"],
                               "transfer": {k: report[k] for k in keys}}
    from vigil.models.yolov5_convert import convert

    report = convert(run_dir / "init_yolov5n_coco.pt", names=names)
    record = {
        "kind": "coco",
        "source": report["source"],
        "source_sha256": report["source_sha256"],
        "checkpoint": report["out"],
        "checkpoint_sha256": report["out_sha256"],
        "transfer": {k: report[k] for k in ("tensors_transferred", "tensors_total", "tensors_left",
                                            "params_transferred", "params_total", "params_left", "layers")},
        "source_tensors_unused": report["source_tensors_unused"],
        "batchnorm_settings_differ": report["batchnorm_settings_differ"],
    }
    return report["out"], record


def train(cfg: TrainConfig) -> dict:
    """Run one training; returns the run record (also written to <run dir>/run.json)."""
    from ultralytics import YOLO

    logs_to_stderr()
    started = datetime.now().astimezone()
    out = Path(cfg.out) if cfg.out else DEFAULT_OUT
    name = cfg.name or f"{cfg.task}-{Path(cfg.init).stem}-{cfg.imgsz}-{started:%Y%m%d-%H%M%S}"
    run_dir = (out / name).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    if cfg.data:
        data_yaml = Path(cfg.data).resolve()
    else:
        ids = {v: k for k, v in FIRE_SMOKE_NAMES.items()}
        unknown = set(cfg.oversample) - set(ids)
        if unknown:
            raise ValueError(f"oversample: unknown class(es) {sorted(unknown)} (known: {sorted(ids)})")
        negatives = negative_images(cfg.negatives) if cfg.negatives else None
        data_yaml = write_fire_smoke_yaml(run_dir, cfg.train_images, cfg.val_images, cfg.seed,
                                          {ids[k]: int(v) for k, v in cfg.oversample.items()} or None, negatives)
    model_arg, init = prepare_init(cfg, run_dir)
    train_files = split_image_files(data_yaml, "train")
    train_args = dict(
        data=str(data_yaml), epochs=cfg.epochs, imgsz=cfg.imgsz, device=cfg.device, batch=cfg.batch,
        fraction=cfg.fraction, seed=cfg.seed, deterministic=True, workers=cfg.workers, patience=cfg.patience,
        project=str(run_dir.parent), name=run_dir.name, exist_ok=True, plots=False, verbose=True,
        pretrained=cfg.init != "scratch",
    )
    train_args.update(cfg.extra)
    record = {
        "task": cfg.task,
        "started": started.isoformat(),
        "run_dir": str(run_dir),
        "config": asdict(cfg),
        "ultralytics_train_args": train_args,
        "data_yaml": str(data_yaml),
        "data": load_data_yaml(data_yaml),
        "dataset": {"train_images": len(train_files), "val_images": len(split_image_files(data_yaml, "val")),
                    "negative_images": sum(1 for p in train_files if p.name.startswith(NEGATIVE_PREFIX))},
        "init": init,
        "git": git_state(),
        "environment": environment(cfg.device),
        "status": "running",
    }
    record_path = run_dir / "run.json"
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")

    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = YOLO(model_arg, task="detect")
            if cfg.device == "cpu":
                def set_threads(trainer) -> None:  # the trainer's select_device() left torch at cpu_count - 1
                    record["torch_threads"] = cpu_threads(cfg.threads)
                model.add_callback("on_train_start", set_threads)
            metrics = model.train(**train_args)
    except BaseException as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", wall_s=round(time.perf_counter() - t0, 1))
        record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        raise
    wall = time.perf_counter() - t0

    save_dir = Path(model.trainer.save_dir)
    epochs = read_results_csv(save_dir / "results.csv")
    weights = {}
    for kind in ("best", "last"):
        p = save_dir / "weights" / f"{kind}.pt"
        if p.exists():
            weights[kind] = {"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}
    n_train = record["dataset"]["train_images"]
    n_used = max(1, round(n_train * cfg.fraction))
    epoch_times = [b["time"] - a["time"] for a, b in zip([{"time": 0.0}] + epochs, epochs) if "time" in b]
    record.update({
        "status": "done",
        "finished": datetime.now().astimezone().isoformat(),
        "wall_s": round(wall, 1),
        "epochs_run": len(epochs),
        "epoch_s": [round(t, 1) for t in epoch_times],
        "train_images_used": n_used,
        "epoch_ms_per_train_image": round(1000 * sum(epoch_times) / max(1, len(epoch_times)) / n_used, 1)
        if epoch_times else None,  # epoch time (its validation included) / train images used
        "per_epoch": epochs,
        "final": metrics_summary(metrics, data_names(data_yaml) or dict(metrics.names)) if metrics is not None else None,
        "final_source": "ultralytics final validation of weights/best.pt on the val split",
        "weights": weights,
        "ultralytics_effective_args": {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                                       for k, v in vars(model.trainer.args).items()},
    })
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return record


def summary_line(record: dict) -> str:
    f = record.get("final") or {}
    ap = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} n/a" for k, v in (f.get("ap50") or {}).items())
    t = record.get("init", {}).get("transfer")
    init = record["init"]["kind"] + (f" ({t['tensors_transferred']}/{t['tensors_total']} tensors from COCO)" if t else "")
    return (f"{record['run_dir']}: {record['epochs_run']} epoch(s) in {record['wall_s']:.0f} s, init {init}, "
            f"mAP50 {f.get('map50', float('nan')):.3f} (AP50 {ap}); record {record['run_dir']}/run.json")
