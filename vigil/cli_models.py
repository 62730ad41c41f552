"""`vigil models ...`: the model catalogue from the command line: list, convert, build, quantize, train, evaluate,
split the labelled sets, assemble class sets, export."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vigil.cli_errors import BadInput, folder, model_file, writable_target, yaml_mapping
from vigil.cli_errors import check as _check, emit as _emit, fail as _fail, usage_errors as _usage_errors

models_app = typer.Typer(help="Model catalogue", no_args_is_help=True)

ROOT = Path(__file__).resolve().parent.parent


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Print only the JSON line")) -> None:
    """List the model catalogue, whether each file is present, and which file and int8/float kernel really runs
    on this CPU, and why."""
    from vigil.models.precision import catalogue_lines, catalogue_report

    _emit(catalogue_report(), catalogue_lines, as_json)


@models_app.command("convert-yolov5")
def models_convert_yolov5(
    out: Path = typer.Option(ROOT / ".vigil-data" / "train" / "init_yolov5n_coco.pt", "--out", help="Checkpoint to write"),
    source: Optional[Path] = typer.Option(None, "--source", help="Original-format yolov5n checkpoint (default: the shared COCO one)"),
) -> None:
    """Convert the original-format YOLOv5n COCO checkpoint into an ultralytics yolov5n fire/smoke checkpoint."""
    if source:
        _check(model_file, source, "--source", suffixes=(".pt",))
    _check(writable_target, out, "--out")
    from vigil.models.yolov5_convert import convert, summary

    with _usage_errors(FileNotFoundError, ValueError):
        report = convert(out, source=source)
    typer.echo(summary(report))
    typer.echo(f"wrote {report['out']} (sha256 {report['out_sha256']})")


@models_app.command("convert-yolov8")
def models_convert_yolov8(
    out: Path = typer.Option(ROOT / ".vigil-data" / "train" / "init_yolov8n_coco.pt", "--out", help="Checkpoint to write"),
    source: Optional[Path] = typer.Option(None, "--source", help="ultralytics YOLOv8n COCO TFLite export (default: the shared one)"),
    imgsz: int = typer.Option(320, "--imgsz", min=32, help="Training size at which batch norm statistics are measured"),
) -> None:
    """Seed an ultralytics yolov8n fire/smoke checkpoint from the YOLOv8n COCO TFLite file (what --init coco-v8 does)."""
    if source:
        _check(model_file, source, "--source", suffixes=(".tflite",))
    _check(writable_target, out, "--out")
    from vigil.models.yolov8_convert import convert, summary

    with _usage_errors(FileNotFoundError, ValueError, RuntimeError):
        report = convert(out, source=source, imgsz=imgsz)
    typer.echo(summary(report))
    typer.echo(f"wrote {report['out']} (sha256 {report['out_sha256']})")


@models_app.command("build-coco")
def models_build_coco(
    imgsz: int = typer.Option(320, "--imgsz", min=32, help="Input size (multiple of 32)"),
    out: Optional[Path] = typer.Option(None, "--out", help="ONNX file to write (default .vigil-data/models/yolov5n_coco_<imgsz>.onnx)"),
    source: Optional[Path] = typer.Option(None, "--source", help="Original-format yolov5n checkpoint (default: the shared COCO one)"),
) -> None:
    """Generate the full COCO YOLOv5n (original anchor head) as ONNX from the original-format checkpoint."""
    if imgsz % 32:
        _fail(f"--imgsz {imgsz} must be a multiple of 32 (the largest stride)")
    if source:
        _check(model_file, source, "--source", suffixes=(".pt",))
    target = _check(writable_target, out or ROOT / ".vigil-data" / "models" / f"yolov5n_coco_{imgsz}.onnx", "--out")
    from vigil.models.yolov5_coco import export_onnx, summary

    with _usage_errors(FileNotFoundError, ValueError):
        report = export_onnx(target, imgsz=imgsz, source=source)
    typer.echo(summary(report))
    typer.echo(f"wrote {report['out']} (sha256 {report['sha256']}; source sha256 {report['source_sha256']})")


@models_app.command("quantize")
def models_quantize(
    model: Path = typer.Option(..., "--model", help="Float ONNX detector to quantize"),
    out: Path = typer.Option(..., "--out", help="int8 ONNX file to write"),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Folder of calibration images (default: ../shared/data/fire_smoke_indoor/train/images)"),
    images: Optional[int] = typer.Option(None, "--images", min=1, help="Calibration images used (evenly strided, sorted; default 100 at input 320, 25 at 640: the calibration holds every activation of every image in memory)"),
    method: str = typer.Option("percentile", "--method", help="Activation range calibration: percentile, minmax or entropy"),
    negatives: Optional[str] = typer.Option(None, "--negatives", help="Fire-free frames in the calibration set: care-ward (the training half of the care-ward frames) or a folder"),
    negative_images: int = typer.Option(30, "--negative-images", min=1, help="How many of the --images are --negatives frames"),
    weights: str = typer.Option("s7", "--weights", help="s7: 7-bit int8 weights, exact on every CPU (default); s8: 8-bit, exact only on VNNI/AMX CPUs (vigil runs the float twin elsewhere); u8: uint8 weights, exact everywhere, little faster than float without VNNI"),
) -> None:
    """Static int8 quantization (ONNX Runtime QDQ; head decoding stays float) for faster CPU inference."""
    _check(model_file, model, "--model", suffixes=(".onnx",))
    _check(writable_target, out, "--out")
    if calibration:
        _check(folder, calibration, "--calibration")
    from vigil.models.datasets import fire_smoke_root
    from vigil.models.quantize import quantize_int8, summary

    if method not in ("percentile", "minmax", "entropy"):
        _fail(f"--method must be percentile, minmax or entropy, not {method!r}")
    with _usage_errors(FileNotFoundError, ValueError):
        report = quantize_int8(model, out, calibration or fire_smoke_root() / "train" / "images", images=images, method=method,
                              negatives=negatives, negative_count=negative_images if negatives else 0, weights=weights)
    typer.echo(summary(report))
    typer.echo(f"wrote {report['out']} (sha256 {report['sha256']})")


@models_app.command("train")
def models_train(
    task: str = typer.Argument(..., help="What to train: fire-smoke, person (people in CCTV; `vigil models class-set person` first) or bag (bags in CCTV; `vigil models class-set bag` first)"),
    data: Optional[Path] = typer.Option(None, "--data", help="Data YAML (default: generated for ../shared/data/fire_smoke_indoor)"),
    epochs: int = typer.Option(100, "--epochs", min=1),
    imgsz: int = typer.Option(320, "--imgsz", min=32),
    device: str = typer.Option("cpu", "--device", help="cpu, or a CUDA index such as 0"),
    init: str = typer.Option("coco", "--init", help="coco (converted YOLOv5n COCO backbone+neck), coco-v8 (YOLOv8n COCO TFLite: backbone, neck, box head), scratch, or an earlier run's .pt checkpoint to fine-tune"),
    batch: int = typer.Option(16, "--batch", min=1),
    fraction: float = typer.Option(1.0, "--fraction", min=0.0, max=1.0, help="Share of the train split used"),
    out: Optional[Path] = typer.Option(None, "--out", help="Parent folder of the run folder (default .vigil-data/train)"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(2, "--workers", min=0, help="Data loader workers"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: ultralytics' choice, cores - 1)"),
    patience: int = typer.Option(100, "--patience", min=1, help="Early stop after this many epochs without improvement"),
    train_images: Optional[int] = typer.Option(None, "--train-images", min=1, help="Seeded subset of the train split"),
    val_images: Optional[int] = typer.Option(None, "--val-images", min=1, help="Seeded subset of the valid split"),
    name: Optional[str] = typer.Option(None, "--name", help="Run folder name"),
    arg: list[str] = typer.Option([], "--arg", help="Further ultralytics train argument key=value, e.g. mosaic=0.5"),
    oversample: list[str] = typer.Option([], "--oversample", help="CLASS=N: images holding CLASS appear N times per epoch, e.g. smoke=3"),
    negatives: Optional[str] = typer.Option(None, "--negatives", help="Fire-free background images added to train: care-ward (half of the care-ward frames; the other half stays for the false-alarm tests) or a folder"),
) -> None:
    """Train the fire/smoke detector, or the person detector (`person`: the set `vigil models class-set person` writes),
    with ultralytics; writes run.json beside the weights."""
    from vigil.models.train import TASKS

    if task not in TASKS:
        _fail(f"unknown training task {task!r} (known: {', '.join(TASKS)})")
    if task in ("person", "bag"):
        from vigil.models.class_sets import OUT_ROOT
        data = data or OUT_ROOT / task / "data.yaml"
        if not data.is_file():
            _fail(f"{data}: no {task} training set; run `vigil models class-set {task}` first")
    if data:
        _check(yaml_mapping, data, "--data", keys=("train", "val"))
    if init not in ("coco", "coco-v8", "scratch"):
        _check(model_file, Path(init), "--init", suffixes=(".pt",))
    from vigil.models.train import TrainConfig, summary_line, train

    extra = {}
    for a in arg:
        k, sep, v = a.partition("=")
        if not sep:
            _fail(f"--arg {a!r} is not key=value")
        import yaml
        extra[k.strip()] = yaml.safe_load(v)
    over = {}
    for o in oversample:
        k, sep, v = o.partition("=")
        if not sep or not v.strip().isdigit() or int(v) < 1:
            _fail(f"--oversample {o!r} is not CLASS=N with N >= 1")
        over[k.strip()] = int(v)
    with _usage_errors(ValueError):
        cfg = TrainConfig(oversample=over, negatives=negatives, data=str(data) if data else None, epochs=epochs, imgsz=imgsz, device=device, init=init,
                          batch=batch, fraction=fraction, out=str(out) if out else None, seed=seed, workers=workers,
                          threads=threads, patience=patience, train_images=train_images, val_images=val_images, name=name, extra=extra,
                          task=task)
    record = train(cfg)
    typer.echo(summary_line(record))


@models_app.command("eval")
def models_eval(
    model: str = typer.Option(..., "--model", help="Catalogue name or path (.pt, .onnx, ...); A+B: several models as one (each at its own input size, a class name owned by the first model that has it); defaults: the objects and fire/smoke defaults together"),
    data: Optional[Path] = typer.Option(None, "--data", help="Data YAML (default: generated for ../shared/data/fire_smoke_indoor)"),
    imgsz: Optional[int] = typer.Option(None, "--imgsz", min=32, help="Input size (default: the model's own, from the catalogue or the ONNX metadata; else 320)"),
    images: Optional[int] = typer.Option(None, "--images", min=1, help="Score a seeded subset of this many val images"),
    timing_images: int = typer.Option(50, "--timing-images", min=1, help="Images timed (batch 1, after warm-up)"),
    device: str = typer.Option("cpu", "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads for the timing (default: ultralytics' choice); ONNX Runtime threads when classes are matched by name"),
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, help="Also resample the val images this many times for a 90 % interval of each class's AP50 (0: off)"),
    frame_level: bool = typer.Option(False, "--frame-level", help="Also per class: share of frames holding it in which the model reports it at --conf, and share of frames without any evaluated label where it reports something"),
    conf: Optional[float] = typer.Option(None, "--conf", min=0.001, max=1.0, help="Score threshold for precision, recall and the frame figures (default: the rules' defaults: fire/smoke the fire_smoke rule's, person unattended_room's, others min_confidence 0.35)"),
    classes: Optional[str] = typer.Option(None, "--classes", help="Evaluate only these classes (comma-separated names, after --map)"),
    aliases: list[str] = typer.Option([], "--map", help="SET_CLASS=NAME: evaluate the set's class as NAME (repeatable; e.g. patient=person)"),
    by_name: bool = typer.Option(False, "--by-name", help="Match classes by name even when model and set name the same classes with the same ids"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """Evaluate a detector on the val split, classes matched by name: AP50, P/R per class (mAP, ms per image).

    When the model and the set name the same classes with the same ids (and no by-name option is given), ultralytics'
    val runs (mAP50-95, timing, --bootstrap). Otherwise the set's classes are matched to the model's by name: classes
    the model lacks are reported as not evaluated, model classes the set lacks are dropped. Last line: JSON."""
    import tempfile

    from vigil.models.catalogue import ModelNotFound, model_imgsz, resolve_model
    from vigil.models.datasets import DatasetMissing, data_names, split_image_files, write_fire_smoke_yaml
    from vigil.models.evaluate import evaluate, human_lines
    from vigil.models.evaluate_byname import evaluate_by_name, human_lines as by_name_lines, model_class_names, needs_by_name, yaml_aliases

    if data:
        _check(yaml_mapping, data, "--data", keys=("val",))
    renames = {}
    for a in aliases:
        k, sep, v = a.partition("=")
        if not sep or not k.strip() or not v.strip():
            _fail(f"--map {a!r} is not SET_CLASS=NAME")
        renames[k.strip()] = v.strip()
    wanted = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    if model.strip() == "defaults" or ("+" in model and not Path(model).exists()):
        _eval_combined(model, data, imgsz, images, threads, bootstrap, frame_level, conf, wanted, renames, as_json)
        return
    with _usage_errors(ModelNotFound, DatasetMissing, BadInput, ValueError):
        path = model_file(resolve_model(model, purpose="fire"), "--model")
        imgsz = imgsz or model_imgsz(model, 320)
        with tempfile.TemporaryDirectory(prefix="vigil-data-") as tmp:
            yaml_path = data.resolve() if data else write_fire_smoke_yaml(Path(tmp))
            named = (by_name or frame_level or conf is not None or wanted is not None or renames
                     or yaml_aliases(yaml_path) or needs_by_name(model_class_names(path), data_names(yaml_path)))
            if named:
                if bootstrap:
                    _fail("--bootstrap needs a model and a set with the same classes and ids (no by-name matching)")
                result = evaluate_by_name(path, yaml_path, imgsz=imgsz, conf=conf, classes=wanted, aliases=renames,
                                          frame_level=frame_level, images=images, threads=threads)
            else:
                if data and not images:  # all of val, linked into a temporary folder: ultralytics writes its
                    images = len(split_image_files(yaml_path, "val"))  # labels.cache beside the labels it reads
                result = evaluate(path, yaml_path, imgsz=imgsz, images=images, timing_images=timing_images,
                                  device=device, threads=threads, bootstrap=bootstrap)
                result["match"] = "by_id (the model and the set name the same classes with the same ids)"
            if not data:
                result["data"] = "generated: shared fire_smoke_indoor"
    _emit(result, by_name_lines if named else human_lines, as_json)


def _eval_combined(spec: str, data: Optional[Path], imgsz: Optional[int], images: Optional[int], threads: Optional[int],
                   bootstrap: int, frame_level: bool, conf: Optional[float], wanted: Optional[list[str]],
                   renames: dict[str, str], as_json: bool) -> None:
    """`vigil models eval --model A+B` / `--model defaults`: several models as one, classes matched by name."""
    import tempfile

    from vigil.models.catalogue import ModelNotFound
    from vigil.models.combined import CombinedDetector, parse_parts
    from vigil.models.datasets import DatasetMissing, write_fire_smoke_yaml
    from vigil.models.evaluate_byname import AP_CONF, evaluate_by_name, human_lines as by_name_lines

    if imgsz is not None:
        _fail(f"--imgsz: each model of --model {spec} runs at its own input size (the catalogue's or its ONNX metadata's)")
    if bootstrap:
        _fail("--bootstrap needs one model and a set with the same classes and ids (no by-name matching)")
    with _usage_errors(ModelNotFound, DatasetMissing, BadInput, ValueError):
        parts = parse_parts(spec)
        for part in parts:
            model_file(part.path, "--model")
        det = CombinedDetector(parts, confidence=AP_CONF, threads=threads)
        label = f"{spec} ({' + '.join(p.ref for p in parts)})" if spec.strip() == "defaults" else spec
        with tempfile.TemporaryDirectory(prefix="vigil-data-") as tmp:
            yaml_path = data.resolve() if data else write_fire_smoke_yaml(Path(tmp))
            result = evaluate_by_name(label, yaml_path, conf=conf, classes=wanted, aliases=renames,
                                      frame_level=frame_level, images=images, threads=threads, detector=det)
        result["class_owner"] = {n: det.owners[n] for n in result["evaluated"] if n in det.owners}
        if not data:
            result["data"] = "generated: shared fire_smoke_indoor"
    _emit(result, by_name_lines, as_json)


@models_app.command("splits")
def models_splits(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write into (default: .vigil-data/splits)"),
    val_share: float = typer.Option(0.2, "--val-share", min=0.05, max=0.5, help="Share of frames asked for val (whole groups: the result differs)"),
    seed: int = typer.Option(0, "--seed"),
    cctv_group: str = typer.Option("site", "--cctv-group", help="cctv_intelligence groups kept on one side: site, clip or source-frame"),
    sets: str = typer.Option("cctv_intelligence,care_ward,fire_smoke_indoor", "--sets", help="Comma-separated sets to write"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """Write validation splits honest about viewpoint (data YAML + lists of absolute paths into ../shared, nothing
    copied): cctv_intelligence by site (so by clip and source frame), care_ward by room, fire_smoke_indoor its own."""
    from vigil.models.datasets import DatasetMissing
    from vigil.models.splits import write_splits

    if out and out.exists() and not out.is_dir():
        _fail(f"--out {out}: is a file, not a folder")
    with _usage_errors(DatasetMissing, ValueError):
        result = write_splits(out, val_share=val_share, seed=seed, cctv_group_by=cctv_group,
                              sets=tuple(s.strip() for s in sets.split(",") if s.strip()))

    def lines(r: dict) -> list[str]:
        return [f"{k:<18} {v['data']}: train {v['train_images']}, val {v['val_images']} ({v.get('rule', '')}"
                + (f"; val groups {', '.join(v['val_groups'])}" if "val_groups" in v else "") + ")" for k, v in r.items()]

    _emit(result, lines, as_json)


@models_app.command("class-set")
def models_class_set(
    name: str = typer.Argument(..., help="person, fire-smoke-cctv or bag"),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write (default: .vigil-data/datasets/NAME)"),
    repeat: list[str] = typer.Option([], "--repeat", help="SOURCE=N: link each train image of SOURCE N times (e.g. care_ward=3)"),
    painted: list[str] = typer.Option([], "--painted", help="SOURCE: add its train frames with every person painted out, unlabelled, as hard negatives (e.g. care_ward)"),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON line"),
) -> None:
    """Write a training set with vigil's classes from the sides of `vigil models splits` (images linked, never
    copied; labels mapped by class name): person (CCTV and care-ward people), fire-smoke-cctv (the indoor photos
    plus surveillance frames). Train on it with `vigil models train person|fire-smoke --data .../data.yaml`."""
    from vigil.models.class_sets import write_set

    times: dict[str, int] = {}
    for item in repeat:
        src, _, n = item.partition("=")
        if not n.isdigit():
            _fail(f"--repeat {item!r}: expected SOURCE=N with N a whole number, e.g. care_ward=3")
        times[src] = int(n)
    with _usage_errors(FileNotFoundError, ValueError):
        result = write_set(name, out, repeat=times, painted=tuple(painted))
    _emit(result, lambda r: [f"{k:<28} {v['images']} images, {v['boxes']} boxes, {v['background']} without any"
                             for k, v in r["sources"].items()]
          + [f"{k:<28} {n} painted negatives" for k, n in r["painted"].items()]
          + [f"data: {r['out']}/data.yaml"], as_json)


@models_app.command("export")
def models_export(
    weights: Path = typer.Argument(..., exists=True, dir_okay=False, help="Trained .pt checkpoint"),
    imgsz: int = typer.Option(320, "--imgsz", min=32),
    out: Optional[Path] = typer.Option(None, "--out", help="ONNX file to write (default: beside the .pt)"),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic batch (and input size) axes: vigil's detector then runs many cameras' frames in one call"),
) -> None:
    """Export a checkpoint to ONNX and check that ONNX Runtime (through ultralytics) runs it."""
    _check(model_file, weights, suffixes=(".pt",))
    if out:
        _check(writable_target, out, "--out")
    from vigil.models.export import export_onnx

    report = export_onnx(weights, imgsz=imgsz, out=out, dynamic=dynamic)
    typer.echo(json.dumps(report, ensure_ascii=False))
