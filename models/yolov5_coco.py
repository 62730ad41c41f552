"""The full COCO YOLOv5n (80 classes) from the shared original-format checkpoint, as a torch module and ONNX.

ultralytics no longer has YOLOv5's anchor-based head, so `YOLO()` cannot run the shared checkpoint. Here:

- layers 0..23 (backbone + neck) are the ultralytics `yolov5n.yaml` layers with the checkpoint's weights,
  copied by `yolov5_convert.transfer` (names and shapes checked there);
- layer 24 is `AnchorDetect`, a small re-implementation of the YOLOv5 v6 `Detect` head: one 1x1 conv per
  scale to 3 * (5 + 80) channels, and the YOLOv5 decode
  xy = (sigmoid * 2 - 0.5 + grid) * stride, wh = (sigmoid * 2) ** 2 * anchor_pixels.

The checkpoint stores `model.24.anchors` in stride units (YOLOv5 divides the yaml's pixel anchors by the
stride at build time: 1.25 * 8 = 10 px); `head_from_checkpoint` multiplies them back and checks the result
against the pixel anchors of the checkpoint's own yaml.

Output (N, A, 85) like a standard YOLOv5 export: cx, cy, w, h in input pixels, objectness, 80 class scores,
all after sigmoid; A = 3 * (40^2 + 20^2 + 10^2) = 6300 at 320. `export_onnx` writes it as ONNX (opset 17,
input `images` float32 NCHW RGB 0..1, dynamic batch) with the class names in the metadata (key `names`, a
str(dict) as ultralytics writes it) and `layout: yolov5` so readers need not guess the output layout.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vigil.models.catalogue import sha256_file
from vigil.models.yolov5_convert import build_target, default_source, load_original, transfer

HEAD_LAYER = 24
FEATURE_LAYERS = (17, 20, 23)  # P3/8, P4/16, P5/32: the inputs of the Detect head
DEFAULT_OUT = Path(__file__).resolve().parent.parent / ".vigil-data" / "models" / "yolov5n_coco_320.onnx"
OPSET = 17


class AnchorDetect(nn.Module):
    """YOLOv5 v6 Detect head (inference only): per scale a 1x1 conv, sigmoid, anchor/grid decode."""

    def __init__(self, channels: tuple[int, ...], anchors_px: torch.Tensor, strides: tuple[float, ...], nc: int = 80):
        super().__init__()
        self.nc, self.no = nc, nc + 5
        self.nl, self.na = anchors_px.shape[0], anchors_px.shape[1]
        self.m = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in channels)
        self.register_buffer("anchors_px", anchors_px.float().clone())  # (nl, na, 2) in input pixels
        self.strides = tuple(float(s) for s in strides)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for i, x in enumerate(feats):
            ny, nx = x.shape[2], x.shape[3]
            # (N, na*no, ny, nx) -> (N, na, ny, nx, no): the row order of the original export
            y = self.m[i](x).view(-1, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=y.dtype), torch.arange(nx, dtype=y.dtype), indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2) - 0.5
            anchor = self.anchors_px[i].view(1, self.na, 1, 1, 2)
            xy, wh, conf = y.split((2, 2, self.nc + 1), 4)
            xy = (xy * 2 + grid) * self.strides[i]
            wh = (wh * 2) ** 2 * anchor
            out.append(torch.cat((xy, wh, conf), 4).reshape(-1, self.na * ny * nx, self.no))
        return torch.cat(out, 1)


class YoloV5Coco(nn.Module):
    """ultralytics yolov5n layers 0..23 + `AnchorDetect`; images (N, 3, H, W) RGB 0..1 -> (N, A, 85)."""

    def __init__(self, layers: nn.ModuleList, head: AnchorDetect, names: dict[int, str]):
        super().__init__()
        self.layers, self.head, self.names = layers, head, dict(names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for m in self.layers:  # the routing ultralytics' BaseModel._predict_once does, via each layer's `f`
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x)
        return self.head([outputs[i] for i in FEATURE_LAYERS])


def head_from_checkpoint(ckpt: dict, src_sd: dict[str, torch.Tensor], channels: tuple[int, ...]) -> AnchorDetect:
    """The checkpoint's layer 24 as an `AnchorDetect` with its conv weights and its anchors in pixels."""
    src = (ckpt.get("ema") or ckpt["model"]).model[HEAD_LAYER]
    strides = tuple(float(s) for s in src.stride)
    anchors = src_sd[f"model.{HEAD_LAYER}.anchors"].float()  # stride units (YOLOv5 v6 divides by stride)
    anchors_px = anchors * torch.tensor(strides).view(-1, 1, 1)
    yaml_anchors = (ckpt.get("ema") or ckpt["model"]).yaml.get("anchors")
    if yaml_anchors is not None:  # the checkpoint's own pixel anchors, e.g. [[10,13, 16,30, 33,23], ...]
        expected = torch.tensor(yaml_anchors, dtype=torch.float32).view_as(anchors_px)
        if not torch.allclose(anchors_px, expected, atol=0.05):
            raise ValueError(f"anchors * stride {anchors_px.tolist()} differ from the yaml anchors {yaml_anchors}")
    head = AnchorDetect(channels, anchors_px, strides, nc=int(src.nc))
    sd = {f"m.{i}.{p}": src_sd[f"model.{HEAD_LAYER}.m.{i}.{p}"] for i in range(len(channels)) for p in ("weight", "bias")}
    head.load_state_dict({**sd, "anchors_px": anchors_px}, strict=True)
    return head


def coco_names(ckpt: dict) -> dict[int, str]:
    names = (ckpt.get("ema") or ckpt["model"]).names
    names = dict(enumerate(names)) if isinstance(names, (list, tuple)) else {int(k): v for k, v in names.items()}
    if len(names) != 80:
        raise ValueError(f"expected the 80 COCO classes, the checkpoint names {len(names)}")
    return names


def build_model(source: Path | None = None) -> tuple[YoloV5Coco, dict]:
    """(eval-mode FP32 module, report) from the original-format checkpoint (default: the shared one)."""
    source = Path(source or default_source())
    ckpt, src_sd = load_original(source)
    names = coco_names(ckpt)
    target = build_target(len(names), names)
    report = transfer(src_sd, target)  # layers 0..23; raises on any name/shape mismatch
    layers = nn.ModuleList(list(target.model)[:HEAD_LAYER])
    channels = tuple(src_sd[f"model.{HEAD_LAYER}.m.{i}.weight"].shape[1] for i in range(len(FEATURE_LAYERS)))
    head = head_from_checkpoint(ckpt, src_sd, channels)
    model = YoloV5Coco(layers, head, names).float().eval()
    return model, {
        "source": str(source), "source_sha256": sha256_file(source), "source_date": ckpt.get("date"),
        "tensors_transferred": report["tensors_transferred"], "head_tensors": len(head.state_dict()),
        "anchors_px": [[[round(v, 2) for v in a] for a in s] for s in head.anchors_px.tolist()],
        "strides": list(head.strides), "nc": head.nc,
    }


def _metadata(names: dict[int, str], imgsz: int, source_sha256: str) -> dict[str, str]:
    return {  # the keys ultralytics writes that readers use, plus the layout and provenance
        "names": str(names), "stride": "32", "task": "detect", "batch": "-1", "imgsz": str([imgsz, imgsz]),
        "layout": "yolov5", "author": "vigil (models/yolov5_coco.py)",
        "description": "YOLOv5n COCO 80 classes, original YOLOv5 v6 anchor head; output (N, A, 85) "
                       "cx, cy, w, h (input pixels), objectness, class scores (after sigmoid)",
        "license": "AGPL-3.0 (Ultralytics-derived weights)", "source_sha256": source_sha256,
    }


def _slim(path: Path) -> dict:
    """Run onnxslim over the file in place (constant folding, shape ops); keep the result only if it loads."""
    import onnx
    import onnxslim

    before = onnx.load(str(path))
    n_before = len(before.graph.node)
    with contextlib.redirect_stdout(sys.stderr):
        slimmed = onnxslim.slim(before)
    onnx.checker.check_model(slimmed)
    onnx.save(slimmed, str(path))
    return {"nodes_before_slim": n_before, "nodes_after_slim": len(slimmed.graph.node)}


def sample_input(imgsz: int) -> np.ndarray:
    """bus.jpg (ships with ultralytics) letterboxed to imgsz, (1, 3, imgsz, imgsz) RGB 0..1: a real image
    for the torch-vs-ONNX check."""
    import cv2
    import ultralytics

    from vigil.vision.onnx_detector import input_tensor

    return input_tensor(cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg")), imgsz)


def export_onnx(out: Path = DEFAULT_OUT, imgsz: int = 320, source: Path | None = None, simplify: bool = True) -> dict:
    """Build the model, export it to `out` (written to a temporary file, then renamed: never half-written),
    and compare ONNX Runtime's output with the torch module's on bus.jpg. Returns a report."""
    import onnx
    import onnxruntime as ort

    if imgsz % 32:
        raise ValueError(f"imgsz {imgsz} must be a multiple of 32 (the largest stride)")
    model, report = build_model(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx.partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        dummy = torch.zeros(1, 3, imgsz, imgsz)
        with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
            torch.onnx.export(model, (dummy,), str(tmp), dynamo=False, opset_version=OPSET, do_constant_folding=True,
                              input_names=["images"], output_names=["output0"],
                              dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
        if simplify:
            report.update(_slim(tmp))
        proto = onnx.load(str(tmp))
        for key, value in _metadata(model.names, imgsz, report["source_sha256"]).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
        x = sample_input(imgsz)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"images": np.concatenate([x, x])})[0]  # batch 2: the batch axis is dynamic
        if got.shape != (2, *ref.shape[1:]):
            raise RuntimeError(f"ONNX output shape {got.shape}, torch {ref.shape}")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    report.update({
        "out": str(out), "sha256": sha256_file(out), "bytes": out.stat().st_size, "imgsz": imgsz, "opset": OPSET,
        "output_shape": ["batch", *ref.shape[1:]],
        "max_abs_diff_boxes_px": float(np.abs(got[:, :, :4] - ref[:, :, :4]).max()),
        "max_abs_diff_scores": float(np.abs(got[:, :, 4:] - ref[:, :, 4:]).max()),
        "torch": torch.__version__, "onnxruntime": ort.__version__,
    })
    return report


def ensure_built(out: Path = DEFAULT_OUT, imgsz: int = 320) -> Path:
    """The generated ONNX file, built first when missing (what `make models` does)."""
    out = Path(out)
    if not out.exists():
        export_onnx(out, imgsz=imgsz)
    return out


def summary(report: dict) -> str:
    return (f"yolov5n COCO ({report['nc']} classes, anchors {report['anchors_px']} px) -> {report['out']} "
            f"(imgsz {report['imgsz']}, {report['bytes'] / 1e6:.1f} MB); ONNX Runtime vs torch on bus.jpg: "
            f"max abs diff {report['max_abs_diff_boxes_px']:.2e} px (boxes), {report['max_abs_diff_scores']:.2e} (scores)")
