"""Static int8 quantization of a detector ONNX file (ONNX Runtime, QDQ, per-channel weights).

Why: on a 2-core CPU with AVX-512 VNNI the fire/smoke YOLOv5n runs about 1.7x faster in int8, and the fire model at
2 Hz per camera is the largest share of a many-camera box's CPU (issue #4).

What is kept in float: the detection head's decoding (DFL, sigmoid, grid/anchor arithmetic, the final concat) and the
last 1x1 convolutions that produce raw box and class logits. Their outputs mix pixel coordinates (0..imgsz) with
scores (0..1) in one tensor; one uint8 scale for both rounds every score to zero. Only the backbone, neck and the
head's inner 3x3 convolutions are quantized. The head is found by name: the node prefix of the graph's last node
(`/model.24/` in an ultralytics export, `/head/` in vigil's YOLOv5 COCO export).

Calibration uses real images letterboxed exactly as `OnnxDetector` feeds them (a fixed, sorted, evenly strided
subset). Activation ranges default to the 99.999th percentile: on the fire model, MinMax ranges gave 10-14 false
fire detections on 404 fire-free pictures against the float model's 3; percentile gives 4 (README, Detection
quality). `negatives` puts fire-free frames of the deployment kind (CCTV) into the calibration set: the YOLOv8n
default calibrated on fire photos alone scored >= 0.4 on 11 of 203 held-out fire-free pictures, with 30 of its 100
calibration images taken from the care-ward training half on 1 (the float model: 1). Metadata (names, imgsz, layout) is copied from the source so
`OnnxDetector` and ultralytics read the result like the float model.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


from vigil.models.catalogue import metadata_imgsz, sha256_file
from vigil.models.datasets import negative_images, split_images
from vigil.models.precision import WEIGHT_FORMATS

# inner convolutions of an ultralytics decoupled head (cv2.i.0/1: box branch, cv3.i.0/1: class branch)
_INNER_HEAD_CONV = re.compile(r"/cv[23]\.\d+\.[01]/")


def head_prefix(graph) -> str:
    """`/model.24/`: the module prefix of the graph's last node (the detection head)."""
    last = graph.node[-1].name
    parts = last.strip("/").split("/")
    if len(parts) < 2:
        raise ValueError(f"cannot tell the detection head from the last node name {last!r}")
    return f"/{parts[0]}/"


def float_nodes(graph) -> list[str]:
    """Names of the nodes left in float: the head, except its inner convolutions."""
    prefix = head_prefix(graph)
    return [n.name for n in graph.node
            if n.name.startswith(prefix) and not (n.op_type == "Conv" and _INNER_HEAD_CONV.search(n.name))]


def strided(files: list[Path], n: int) -> list[Path]:
    """`n` of `files` evenly strided (deterministic)."""
    step = max(1, len(files) // n)
    return files[::step][:n]


def calibration_images(folder: Path, n: int, negatives: str | None = None, negative_count: int = 0) -> list[Path]:
    """`n` images evenly strided over the sorted files of a folder (deterministic); with `negatives` (a
    `negative_images` spec such as `care-ward`), `negative_count` of them are fire-free background frames
    instead, strided the same way."""
    files = split_images(Path(folder))
    if not files:
        raise FileNotFoundError(f"no calibration images in {folder}")
    if not negatives or negative_count <= 0:
        return strided(files, n)
    if negative_count >= n:
        raise ValueError(f"--negative-images ({negative_count}) must be fewer than --images ({n})")
    return strided(files, n - negative_count) + strided(negative_images(negatives), negative_count)


# ONNX Runtime's calibrators keep every intermediate tensor of every calibration image until the ranges are computed:
# measured 6.1 GB peak for 24 images on YOLOv8n at 640 (person-cctv-yolov8n-640), about 620 bytes per input pixel per
# image, kept at 640 with a margin; 100 images at 640 were killed by the 24 GB machine's memory limit.
CALIB_BYTES_PER_PIXEL = 640


def default_calibration_images(imgsz: int) -> int:
    """100 images at 320 (the shipped int8 twins' calibration), fewer for larger inputs (same memory): 25 at 640."""
    return max(16, round(100 * (320 / imgsz) ** 2))


def check_calibration_memory(n: int, imgsz: int, available: int | None = None) -> None:
    """ValueError naming --images when n calibration images at imgsz would not fit in the memory available."""
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    per_image = CALIB_BYTES_PER_PIXEL * imgsz * imgsz
    if n * per_image > 0.7 * available:
        fit = max(1, int(0.7 * available // per_image))
        raise ValueError(f"--images {n} at input {imgsz} would hold about {n * per_image / 1e9:.1f} GB of activations "
                         f"while calibrating ({per_image / 1e6:.0f} MB per image), and {available / 1e9:.1f} GB is "
                         f"available: use --images {fit} or fewer")


class _Reader:
    """Calibration data over letterboxed images (onnxruntime's CalibrationDataReader protocol: `get_next`)."""

    def __init__(self, images: list[Path], input_name: str, imgsz: int):
        self.images, self.input_name, self.imgsz = iter(images), input_name, imgsz

    def get_next(self):
        import cv2

        from vigil.vision.onnx_detector import input_tensor

        path = next(self.images, None)
        if path is None:
            return None
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"unreadable calibration image {path}")
        return {self.input_name: input_tensor(image, self.imgsz)}


def quantize_int8(src: Path, dst: Path, calibration_dir: Path, images: int | None = None, imgsz: int | None = None,
                  method: str = "percentile", negatives: str | None = None, negative_count: int = 0,
                  weights: str = "s7") -> dict:
    """Write the int8 QDQ model of `src` to `dst` (temporary file, then renamed). Returns a report.

    `weights`: s7 (int8 weights in 7 bits, exact on every CPU's int8 kernel), s8 (full 8 bits: exact only with
    VNNI/AMX; elsewhere vigil loads the float twin, models/precision.py) or u8 (uint8 weights, exact everywhere,
    little faster than float without VNNI); see models/cpu.py for why."""
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"--weights must be one of {', '.join(WEIGHT_FORMATS)}, not {weights!r}")
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    source = onnx.load(str(src))
    meta = {p.key: p.value for p in source.metadata_props}
    if imgsz is None:
        imgsz = metadata_imgsz(meta) or 320
    input_name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    images = images or default_calibration_images(imgsz)
    check_calibration_memory(images, imgsz)
    calib = calibration_images(calibration_dir, images, negatives, negative_count)
    keep_float = float_nodes(source.graph)
    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), _Reader(calib, input_name, imgsz), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QUInt8 if weights == "u8" else QuantType.QInt8,
                        reduce_range=weights == "s7", nodes_to_exclude=keep_float, calibrate_method=calibrate)
        proto = onnx.load(str(out))
        del proto.metadata_props[:]
        meta.update({"quantization": f"int8 QDQ static ({method} calibration), per-channel {weights} weights, head "
                                     f"decoding in float", "int8_weights": weights,
                     "quantized_from": src.name, "quantized_from_sha256": sha256_file(src)})
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(out))
        os.chmod(out, 0o644)
        out.replace(dst)
    return {"out": str(dst), "sha256": sha256_file(dst), "bytes": dst.stat().st_size, "source": str(src),
            "source_sha256": sha256_file(src), "imgsz": imgsz, "calibration_images": len(calib),
            "calibration_dir": str(calibration_dir), "calibration_negatives": negative_count if negatives else 0,
            "calibration_negatives_from": negatives, "calibration_method": method, "float_nodes": len(keep_float), "weights": weights,
            "onnxruntime": ort.__version__}


def summary(report: dict) -> str:
    return (f"int8 {report['out']} ({report['bytes'] / 1e6:.1f} MB) from {report['source']}; calibrated on "
            f"{report['calibration_images']} images of {report['calibration_dir']}"
            + (f" ({report['calibration_negatives']} of them fire-free, from {report['calibration_negatives_from']})"
               if report.get("calibration_negatives") else "")
            + f"; {report['float_nodes']} head nodes kept in float; weights {report['weights']}: "
            + WEIGHT_FORMATS[report["weights"]])
