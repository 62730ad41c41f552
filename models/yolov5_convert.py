"""Seed the ultralytics `yolov5n` (anchor-free head) with the COCO weights of an original-format YOLOv5n.

The shared `yolov5n_coco_official.pt` is a pickle of the ultralytics/yolov5 repository's own classes
(`models.yolo.Model`, `models.common.C3`, ...), which are not installed here and which `ultralytics.YOLO()`
cannot load. `load_original` unpickles it with every missing class replaced by an empty `torch.nn.Module`
subclass: the module tree, its parameters and buffers come back intact, so `state_dict()` works without the
yolov5 repository. Layers 0..23 (backbone and neck: Conv, C3, SPPF, Upsample, Concat) have the same
structure and key names in both code bases; layer 24 differs (anchor-based `Detect` with one 1x1 conv per
scale vs the anchor-free, decoupled box/class head), so it keeps its fresh initialisation and is trained.
Every copied tensor's shape is checked; the report counts what was transferred and what was left.
"""
from __future__ import annotations

import copy
import pickle
import types
from pathlib import Path

import torch

from vigil.models.catalogue import shared_dir
from vigil.models.catalogue import sha256_file
from vigil.models.datasets import FIRE_SMOKE_NAMES
from vigil.models.ultralytics_env import logs_to_stderr

SOURCE_FILE = "models/yolov5n_coco_official.pt"
TARGET_CFG = "yolov5n.yaml"  # ships inside the ultralytics package (cfg/models/v5/yolov5.yaml, scale n)
TRANSFER_LAYERS = range(0, 24)  # backbone 0..9, neck 10..23; 24 is the Detect head


class _MissingModule(torch.nn.Module):
    """Stand-in for a class of the yolov5 repository: holds the unpickled attributes, never runs."""

    def forward(self, *args, **kwargs):  # pragma: no cover - only weights are read
        raise RuntimeError(f"{type(self).__qualname__} is a placeholder for an original yolov5 class")


class _StubUnpickler(pickle.Unpickler):
    _stubs: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            key = (module, name)
            if key not in self._stubs:
                self._stubs[key] = type(name, (_MissingModule,), {"__module__": f"vigil_stub.{module}"})
            return self._stubs[key]


# torch.load(pickle_module=...) needs a module-like object with Unpickler, load and __name__
_stub_pickle = types.SimpleNamespace(__name__="vigil_stub_pickle", Unpickler=_StubUnpickler,
                                     load=lambda f, **kw: _StubUnpickler(f, **kw).load())


def default_source() -> Path:
    return shared_dir() / SOURCE_FILE


def load_original(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(checkpoint dict, FP32 state dict of its model) for an original-format yolov5 checkpoint.

    Loads a pickle with arbitrary classes (weights_only=False): only for trusted files, such as the shared
    checkpoint whose sha256 the catalogue records."""
    ckpt = torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_stub_pickle)
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{path}: no 'model' or 'ema' module in the checkpoint")
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return ckpt, sd


def _layer(key: str) -> int:
    parts = key.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[0] == "model" and parts[1].isdigit() else -1


def _bn_settings(module: torch.nn.Module) -> dict[str, tuple[float, float]]:
    return {n: (m.eps, m.momentum) for n, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}


def transfer(src_sd: dict[str, torch.Tensor], model: torch.nn.Module,
             layers=TRANSFER_LAYERS) -> dict:
    """Copy the tensors of `layers` from src_sd into `model` (in place); strict on names and shapes there.

    Returns counts of tensors and parameters transferred and left, and the keys on either side that had no
    counterpart."""
    dst_sd = model.state_dict()
    wanted = set(layers)
    copied, mismatched = {}, []
    for key, value in src_sd.items():
        if _layer(key) not in wanted:
            continue
        if key not in dst_sd:
            mismatched.append(f"{key}: not in target")
        elif tuple(dst_sd[key].shape) != tuple(value.shape):
            mismatched.append(f"{key}: {tuple(value.shape)} vs target {tuple(dst_sd[key].shape)}")
        else:
            copied[key] = value.to(dst_sd[key].dtype)
    missing_in_src = [k for k in dst_sd if _layer(k) in wanted and k not in src_sd]
    if mismatched or missing_in_src:
        raise ValueError("backbone/neck layouts differ: " + "; ".join(mismatched + [f"{k}: not in source" for k in missing_in_src]))
    return {
        **load_counted(model, copied),
        "source_tensors_unused": sorted(k for k in src_sd if _layer(k) not in wanted),
        "layers": [min(wanted), max(wanted)],
    }


def load_counted(model: torch.nn.Module, copied: dict[str, torch.Tensor]) -> dict:
    """Load `copied` (keys and shapes already checked against the model) into `model`, read every tensor back,
    and count the tensors and parameters transferred and left."""
    dst_sd = model.state_dict()
    result = model.load_state_dict(copied, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    for key, value in copied.items():  # read back: every copied tensor is in place
        if not torch.equal(model.state_dict()[key], value):
            raise RuntimeError(f"{key}: copy did not take")
    params = dict(model.named_parameters())
    n_params = sum(p.numel() for p in params.values())
    n_params_copied = sum(params[k].numel() for k in copied if k in params)
    return {
        "tensors_transferred": len(copied),
        "tensors_total": len(dst_sd),
        "tensors_left": len(dst_sd) - len(copied),
        "params_transferred": n_params_copied,
        "params_total": n_params,
        "params_left": n_params - n_params_copied,
    }


def build_target(nc: int = 2, names: dict[int, str] | None = None, cfg: str = TARGET_CFG):
    """A fresh ultralytics DetectionModel from `cfg` (default `yolov5n.yaml`) with nc classes (deterministic init)."""
    logs_to_stderr()
    from ultralytics.nn.tasks import DetectionModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DetectionModel(cfg, nc=nc, verbose=False)
    model.names = dict(names or {i: str(i) for i in range(nc)})
    return model


def convert(out: Path, source: Path | None = None, names: dict[int, str] | None = None) -> dict:
    """Write an ultralytics checkpoint (`ultralytics.YOLO(out)` loads it) of yolov5n with `names` classes,
    backbone and neck from the original COCO checkpoint. Returns the conversion report."""
    source = Path(source or default_source())
    names = dict(names or FIRE_SMOKE_NAMES)
    ckpt, src_sd = load_original(source)
    model = build_target(len(names), names)
    report = transfer(src_sd, model)
    src_model = ckpt.get("ema") or ckpt["model"]
    src_bn, dst_bn = _bn_settings(src_model), _bn_settings(model)
    bn_diff = [k for k in src_bn if k in dst_bn and _layer(k) in TRANSFER_LAYERS
               and any(abs(a - b) > 1e-9 for a, b in zip(src_bn[k], dst_bn[k]))]
    report.update({
        "source": str(source),
        "source_sha256": sha256_file(source),
        "source_date": ckpt.get("date"),
        "source_classes": len(getattr(src_model, "names", []) or []),
        "target_cfg": TARGET_CFG,
        "names": names,
        "batchnorm_settings_differ": bn_diff,  # eps/momentum; [] means same normalisation
    })
    # the source's date, not now: same source -> byte-identical output
    save_init(model, out, TARGET_CFG, ckpt.get("date"), {k: v for k, v in report.items() if k != "source_tensors_unused"})
    report["out"] = str(out)
    report["out_sha256"] = sha256_file(out)
    return report


def save_init(model, out: Path, cfg: str, date: str | None, conversion: dict) -> None:
    """Write `model` (fp16) as an ultralytics checkpoint that `YOLO(out)` loads and trains from; the conversion
    report travels inside it as `vigil_conversion`."""
    from ultralytics import __version__ as ul_version

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "epoch": -1,
        "best_fitness": None,
        "model": copy.deepcopy(model).half(),
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": {"task": "detect", "model": cfg},
        "date": date,
        "version": ul_version,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "vigil_conversion": conversion,
    }, out)


def summary(report: dict) -> str:
    return (f"yolov5n COCO -> ultralytics {report['target_cfg']} (nc={len(report['names'])}): "
            f"{report['tensors_transferred']}/{report['tensors_total']} tensors, "
            f"{report['params_transferred']:,}/{report['params_total']:,} parameters transferred "
            f"(layers {report['layers'][0]}..{report['layers'][1]}); left: {report['tensors_left']} tensors, "
            f"{report['params_left']:,} parameters (Detect head); source tensors unused: "
            f"{len(report['source_tensors_unused'])} (anchor head)")
