"""Evaluation by class name, with vigil's own detectors (`vision.detector.load_detector`: ONNX Runtime for .onnx).

A data YAML's class names are matched to the model's by name, both in vigil's class vocabulary (vision/vocabulary.py:
a COCO model's bicycle and motorcycle are `ebike`, and so are a set's), optionally after `aliases`, which rename the
set's classes (`patient=person`; a YAML's own `vigil_aliases` apply first). Only classes both have are evaluated: the set's other classes are reported as not
evaluated and their boxes ignored; the model's other classes are dropped from its predictions (never false
positives), unless `classes` names them: a model class the set never labels is then evaluated with no label box
(every report a false positive, every frame a frame without it: false alarms on fire-free sets). Per evaluated class:

- box figures: AP50 (all predictions down to `AP_CONF`, 101-point interpolation as ultralytics' `compute_ap`;
  predictions matched greedily by score to the unmatched label box of the same class with the highest IoU >= 0.5),
  and precision / recall of the predictions scoring >= the class's threshold;
- frame figures (`frame_level`): of the frames whose labels hold the class, the share in which the model reports
  it at >= the threshold anywhere (`alarm_share`); of the frames whose labels do not hold it, the share in which it
  is reported (`false_alarm_share`); and over the frames holding no evaluated class at all, the share in which any
  evaluated class is reported.

Thresholds default to the rules' defaults, read from vigil/config.py: fire and smoke the fire_smoke rule's
(0.4), person the unattended_room rule's min_confidence (the rule that counts people), any other class the rules'
common min_confidence (0.35); `conf` sets one for all (or per class, as a dict).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vigil.models.datasets import data_names, label_for, load_data_yaml, pick, split_image_files
from vigil.vision.boxes import iou_matrix
from vigil.vision.vocabulary import vigil_class_list, vigil_name

AP_CONF = 0.001  # the lowest score kept for AP (as ultralytics val)
IOU_MATCH = 0.5


def rule_thresholds() -> dict[str, float]:
    """The rules' default score thresholds per class name ('*': any other class)."""
    from vigil.rules_config import FireSmokeRule, RuleBase, UnattendedRoomRule

    f = FireSmokeRule.model_fields
    return {"fire": f["fire_confidence"].default, "flame": f["fire_confidence"].default,
            "smoke": f["smoke_confidence"].default, "person": UnattendedRoomRule.model_fields["min_confidence"].default,
            "*": RuleBase.model_fields["min_confidence"].default}


def threshold_for(name: str, conf: float | dict[str, float] | None = None) -> float:
    """`conf` (one threshold for all, or {class: threshold}), else the rules' default for the class."""
    if isinstance(conf, dict):
        if name in conf:
            return float(conf[name])
    elif conf is not None:
        return float(conf)
    t = rule_thresholds()
    return float(t.get(name, t["*"]))


@dataclass
class ClassMatch:
    evaluated: list[str]  # evaluated class names, in the set's order
    data_to_eval: dict[int, int]  # set class id -> index into `evaluated`
    model_to_eval: dict[int, int]  # model class id -> index into `evaluated`
    not_evaluated: dict[str, str] = field(default_factory=dict)  # set class name -> why
    model_dropped: list[str] = field(default_factory=list)  # model classes the set lacks (predictions dropped)


def match_classes(data_names: dict[int, str], model_names: dict[int, str], classes: list[str] | None = None,
                  aliases: dict[str, str] | None = None) -> ClassMatch:
    """Match a set's classes to a model's by name. `aliases` rename set classes (several may share one name, their
    boxes then count as one class); `classes` keeps only these (names after aliasing)."""
    aliases = dict(aliases or {})
    classes = vigil_class_list(classes) if classes is not None else None
    unknown = sorted(set(aliases) - set(data_names.values()))
    if unknown:
        raise ValueError(f"--map: the set has no class {', '.join(map(repr, unknown))} "
                         f"(its classes: {', '.join(data_names.values())})")
    model_by_name: dict[str, list[int]] = {}
    for i, n in model_names.items():
        model_by_name.setdefault(n, []).append(i)
    # a set's own names go through vigil's vocabulary too (a set labelling `motorcycle` is evaluated as `ebike`)
    renamed = {i: aliases.get(n, vigil_name(n)) for i, n in data_names.items()}
    if classes is not None:
        missing = sorted(set(classes) - set(renamed.values()) - set(model_by_name))
        if missing:
            raise ValueError(f"--classes: neither the set nor the model has class {', '.join(map(repr, missing))} "
                             f"(the set's classes: {', '.join(sorted(set(renamed.values())))})")
    evaluated: list[str] = []
    data_to_eval: dict[int, int] = {}
    not_evaluated: dict[str, str] = {}
    for i, n in sorted(data_names.items()):
        target = renamed[i]
        shown = n if target == n else f"{n} (as {target})"
        if target not in model_by_name:
            not_evaluated[n] = f"the model has no class '{target}'" if target == n else f"{shown}: the model has no class '{target}'"
        elif classes is not None and target not in classes:
            not_evaluated[n] = "left out by --classes"
        else:
            if target not in evaluated:
                evaluated.append(target)
            data_to_eval[i] = evaluated.index(target)
    for name in classes or ():  # asked for, the model has it, the set never labels it: every report is false
        if name not in evaluated and name in model_by_name and name not in renamed.values():
            evaluated.append(name)
    if not evaluated:
        raise ValueError("no class in common between the set (" + ", ".join(data_names.values()) + ") and the model ("
                         + ", ".join(list(model_names.values())[:12]) + (", ..." if len(model_names) > 12 else "") + ")")
    model_to_eval = {i: evaluated.index(n) for i, n in model_names.items() if n in evaluated}
    dropped = [n for _, n in sorted(model_names.items()) if n not in evaluated]
    return ClassMatch(evaluated, data_to_eval, model_to_eval, not_evaluated, dropped)


def read_labels(image: Path, width: int, height: int, data_to_eval: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(xyxy pixel boxes, evaluated class index) of an image's YOLO labels, other classes ignored."""
    lab = label_for(image)
    boxes, cls = [], []
    if lab.exists():
        for line in lab.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 5 or int(float(parts[0])) not in data_to_eval:
                continue
            if len(parts) > 5:  # a polygon: its bounding box
                xs, ys = [float(v) for v in parts[1::2]], [float(v) for v in parts[2::2]]
                x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            else:
                cx, cy, w, h = map(float, parts[1:5])
                x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            boxes.append([x1 * width, y1 * height, x2 * width, y2 * height])
            cls.append(data_to_eval[int(float(parts[0]))])
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(cls, np.int64)


def match_image(pred_xyxy: np.ndarray, pred_score: np.ndarray, gt_xyxy: np.ndarray, iou: float = IOU_MATCH) -> np.ndarray:
    """True positives of one image and one class: predictions in descending score each take the unmatched label
    box with the highest IoU >= `iou`."""
    tp = np.zeros(len(pred_score), bool)
    if not len(pred_score) or not len(gt_xyxy):
        return tp
    ious = iou_matrix(pred_xyxy, gt_xyxy)
    taken = np.zeros(len(gt_xyxy), bool)
    for i in np.argsort(-pred_score, kind="stable"):
        row = np.where(taken, -1.0, ious[i])
        j = int(row.argmax())
        if row[j] >= iou:
            tp[i], taken[j] = True, True
    return tp


def average_precision(tp: np.ndarray, score: np.ndarray, n_gt: int) -> float | None:
    """AP of one class (ultralytics' compute_ap: precision envelope, 101-point interpolation); None without labels."""
    if n_gt == 0:
        return None
    if not len(tp):
        return 0.0
    order = np.argsort(-score, kind="stable")
    tpc = np.cumsum(tp[order])
    fpc = np.cumsum(~tp[order])
    recall = tpc / n_gt
    precision = tpc / (tpc + fpc)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    trapz = getattr(np, "trapezoid", None) or np.trapz
    return float(trapz(np.interp(x, mrec, mpre), x))


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score_frames(frames: list[dict], evaluated: list[str], thresholds: dict[str, float], frame_level: bool = True) -> dict:
    """Box and frame figures from per-frame records {gt_xyxy, gt_cls, xyxy, score, cls} (class = index into
    `evaluated`, predictions already restricted to evaluated classes)."""
    per_class: dict[str, dict] = {}
    for k, name in enumerate(evaluated):
        thr = thresholds[name]
        tps, scores, n_gt, n_img = [], [], 0, 0
        tp_thr = fp_thr = 0
        with_c = alarmed = without_c = false_alarm = 0
        for f in frames:
            g = f["gt_xyxy"][f["gt_cls"] == k]
            sel = f["cls"] == k
            p, s = f["xyxy"][sel], f["score"][sel]
            tp = match_image(p, s, g)
            tps.append(tp)
            scores.append(s)
            n_gt += len(g)
            n_img += bool(len(g))
            hi = s >= thr
            # at the threshold: match only the predictions above it (a low box must not take a label box)
            tp_hi = match_image(p[hi], s[hi], g)
            tp_thr += int(tp_hi.sum())
            fp_thr += int((~tp_hi).sum())
            reported = bool(hi.any())
            if len(g):
                with_c += 1
                alarmed += reported
            else:
                without_c += 1
                false_alarm += reported
        tp_all = np.concatenate(tps) if tps else np.zeros(0, bool)
        sc_all = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        ap = average_precision(tp_all, sc_all, n_gt)
        entry = {"ap50": None if ap is None else round(ap, 4), "precision": _ratio(tp_thr, tp_thr + fp_thr),
                 "recall": _ratio(tp_thr, n_gt), "conf": thr, "boxes": n_gt, "images": n_img, "tp": tp_thr, "fp": fp_thr}
        if frame_level:
            entry["frames"] = {"with": with_c, "alarmed": alarmed, "alarm_share": _ratio(alarmed, with_c),
                               "without": without_c, "false_alarms": false_alarm,
                               "false_alarm_share": _ratio(false_alarm, without_c)}
        per_class[name] = entry
    out: dict = {"classes": per_class}
    aps = [c["ap50"] for c in per_class.values() if c["ap50"] is not None]
    ps = [c["precision"] for c in per_class.values() if c["precision"] is not None]
    rs = [c["recall"] for c in per_class.values() if c["recall"] is not None]
    out["ap50"] = {n: c["ap50"] for n, c in per_class.items()}
    out["map50"] = round(float(np.mean(aps)), 4) if aps else None
    out["precision"] = round(float(np.mean(ps)), 4) if ps else None
    out["recall"] = round(float(np.mean(rs)), 4) if rs else None
    if frame_level:
        empty = [f for f in frames if not len(f["gt_cls"])]
        alarmed = 0
        for f in empty:
            thr = np.array([thresholds[evaluated[int(c)]] for c in f["cls"]], np.float32)
            alarmed += bool(len(f["score"]) and (f["score"] >= thr).any())
        out["frame_level"] = {"frames": len(frames), "frames_without_labels": len(empty), "false_alarm_frames": alarmed,
                              "false_alarm_share": _ratio(alarmed, len(empty)),
                              "alarm_share": {n: c["frames"]["alarm_share"] for n, c in per_class.items()}}
    return out


def yaml_aliases(data: Path) -> dict[str, str]:
    """`vigil_aliases` of a data YAML ({set class: name to evaluate it as}; `vigil models splits` writes
    `patient: person` for care_ward, whose `person` boxes are staff only); --map entries override them."""
    raw = load_data_yaml(Path(data)).get("vigil_aliases") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{data}: vigil_aliases must be a mapping of class names")
    return {str(k): str(v) for k, v in raw.items()}


def _model_names_and_detector(model: Path, imgsz: int, threads: int | None):
    from vigil.vision.detector import load_detector

    det = load_detector(model, imgsz=imgsz, confidence=AP_CONF, threads=threads)
    return dict(det.names), det


def evaluate_by_name(model: str | Path, data: Path, imgsz: int = 320, conf: float | dict[str, float] | None = None,
                     classes: list[str] | None = None, aliases: dict[str, str] | None = None,
                     frame_level: bool = False, images: int | None = None, seed: int = 0,
                     threads: int | None = None, batch: int = 8, split: str = "val", detector=None) -> dict:
    """By-name evaluation of `model` (a file) on the `split` of a data YAML; see the module doc. `detector`: run
    this one instead of loading `model` (several models as one: models/combined.py; `model` then only names it)."""
    data = Path(data).resolve()
    dnames = data_names(data)
    if not dnames:
        raise ValueError(f"{data}: no 'names'")
    files = split_image_files(data, split)
    if images:
        files = pick(files, images, seed)
    if not files:
        raise ValueError(f"{data}: the {split} split has no images")
    aliases = {**yaml_aliases(data), **(aliases or {})}
    mnames, det = (dict(detector.names), detector) if detector is not None else _model_names_and_detector(Path(model), imgsz, threads)
    match = match_classes(dnames, mnames, classes, aliases)
    thresholds = {n: threshold_for(n, conf) for n in match.evaluated}
    frames: list[dict] = []
    ms: list[float] = []
    step = batch if getattr(det, "dynamic_batch", False) else 1
    for start in range(0, len(files), step):
        chunk = files[start:start + step]
        imgs = []
        for p in chunk:
            im = cv2.imread(str(p))
            if im is None:
                raise ValueError(f"unreadable image {p}")
            imgs.append(im)
        t = time.perf_counter()
        dets = det.detect_batch(imgs) if hasattr(det, "detect_batch") else [det.detect(im) for im in imgs]
        ms.append((time.perf_counter() - t) * 1000 / len(imgs))
        for p, im, d in zip(chunk, imgs, dets):
            gt_xyxy, gt_cls = read_labels(p, im.shape[1], im.shape[0], match.data_to_eval)
            keep = np.isin(d.class_id, list(match.model_to_eval))
            cls = np.array([match.model_to_eval[int(c)] for c in d.class_id[keep]], np.int64)
            frames.append({"gt_xyxy": gt_xyxy, "gt_cls": gt_cls, "xyxy": d.xyxy[keep], "score": d.confidence[keep],
                           "cls": cls})
    out = {"match": "by_name", "evaluated": match.evaluated, "not_evaluated": match.not_evaluated,
           "aliases": aliases, "model_classes_dropped": len(match.model_dropped),
           **score_frames(frames, match.evaluated, thresholds, frame_level)}
    from vigil.models.cpu import cpu_info

    out.update({"conf": thresholds, "iou": IOU_MATCH, "imgsz": getattr(det, "imgsz", imgsz), "model": str(model),
                "format": "combined" if detector is not None else Path(model).suffix.lstrip(".") or "dir", "images": len(files),
                "ms_per_image": round(statistics.median(ms), 2), "device": "cpu", "data": str(data),
                "val": str(load_data_yaml(data).get(split)), "machine": cpu_info().label()})
    return out


def needs_by_name(model_names: dict[int, str] | None, set_names: dict[int, str]) -> bool:
    """True unless the model and the set name the same classes with the same ids (then ultralytics' val, which
    matches by id, is also a match by name)."""
    return model_names is None or {int(k): str(v) for k, v in model_names.items()} != set_names


def model_class_names(model: Path) -> dict[int, str] | None:
    """The model's class names without running it: ONNX metadata, a .pt checkpoint's names; None otherwise."""
    suffix = Path(model).suffix.lower()
    if suffix == ".onnx":
        import onnxruntime as ort

        from vigil.vision.onnx_detector import parse_names

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        return parse_names(sess.get_modelmeta().custom_metadata_map)
    if suffix == ".pt":
        try:
            from ultralytics import YOLO

            return dict(YOLO(str(model), task="detect").names)
        except Exception:  # not an ultralytics checkpoint: leave it to the by-name path
            return None
    return None


def human_lines(result: dict) -> list[str]:
    lines = [f"model      {result['model']}",
             f"data       {result['val']} ({result['images']} images), classes matched by name",
             f"evaluated  {', '.join(result['evaluated'])}"]
    if result["not_evaluated"]:
        lines.append("not evaluated  " + "; ".join(f"{k}: {v}" for k, v in result["not_evaluated"].items()))
    for name, c in result["classes"].items():
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        line = (f"{name:<10} AP50 {fmt(c['ap50'])}  P {fmt(c['precision'])}  R {fmt(c['recall'])} at conf "
                f"{c['conf']:.2f} ({c['boxes']} boxes in {c['images']} images)")
        if "frames" in c:
            fr = c["frames"]
            line += (f"; frames alarmed {fr['alarmed']}/{fr['with']} ({fmt(fr['alarm_share'])}), "
                     f"false alarms {fr['false_alarms']}/{fr['without']} ({fmt(fr['false_alarm_share'])})")
        lines.append(line)
    if "frame_level" in result:
        fl = result["frame_level"]
        share = fl["false_alarm_share"]
        lines.append(f"frames without any evaluated label: {fl['frames_without_labels']}, alarmed "
                     f"{fl['false_alarm_frames']} ({'n/a' if share is None else f'{share:.3f}'})")
    lines.append(f"speed      {result['ms_per_image']:.1f} ms per image at {result['imgsz']} px; CPU {result['machine']}")
    return lines
