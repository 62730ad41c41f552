"""Which file a detector really runs: an int8 model where this CPU computes it exactly, else its float twin.

An int8 ONNX file is trusted on a CPU when its weights cannot saturate the int8 kernel ONNX Runtime uses there
(models/cpu.py): 7-bit int8 weights (`vigil models quantize --weights s7`, the default) and uint8 weights are exact
on every kernel; full 8-bit int8 weights (`--weights s8`) only on VNNI, AMX, SSE-only and ARM CPUs. Where an int8
file is not trusted, the float model it was quantized from is used instead, found beside it (`X_int8.onnx` ->
`X.onnx`, checked against the sha256 the quantizer wrote into the int8 file), and the reason is kept for
`vigil models list`, `/api/health` and the log. Without a float twin the int8 file is used with a warning.

The weight format is read from the file itself (the integer initialisers that feed DequantizeLinear), so files made
before this module, or by other tools, are judged the same way.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from vigil.models.cpu import CpuInfo, cpu_info, float_kernel, int8_kernel

log = logging.getLogger("vigil.models")

WEIGHT_FORMATS = {
    "s7": "int8 weights limited to 7 bits (-64..63): exact on every CPU",
    "s8": "full 8-bit int8 weights: exact only where the CPU has VNNI or AMX (or no AVX2)",
    "u8": "uint8 weights (MLAS's u8 x u8 kernel): exact on every CPU, little faster than float without VNNI-INT8",
}


@dataclass(frozen=True)
class ModelChoice:
    requested: str  # the file asked for
    used: str  # the file loaded
    precision: str  # "float" or "int8"
    weights: str | None  # int8 weight format of the requested file (s7, s8, u8) or None for a float file
    kernel: str  # the ONNX Runtime kernel path the used file runs on
    reason: str

    @property
    def substituted(self) -> bool:
        return self.used != self.requested

    def as_dict(self) -> dict:
        return {**asdict(self), "requested_name": Path(self.requested).name, "used_name": Path(self.used).name}


def _weight_format(path: Path) -> tuple[str | None, dict[str, str]]:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    inits = {t.name: t for t in model.graph.initializer}
    weights = [inits[n.input[0]] for n in model.graph.node
               if n.op_type == "DequantizeLinear" and n.input and n.input[0] in inits and len(inits[n.input[0]].dims) == 4]
    if not weights:
        return None, meta
    types = {w.data_type for w in weights}
    if types == {onnx.TensorProto.UINT8}:
        return "u8", meta
    if types != {onnx.TensorProto.INT8}:
        return "s8", meta  # mixed or unusual: treat as the format that needs VNNI
    peak = max(int(np.abs(numpy_helper.to_array(w).astype(np.int16)).max()) for w in weights)
    return ("s7" if peak <= 64 else "s8"), meta


@lru_cache(maxsize=64)
def _weight_format_cached(path: str, mtime_ns: int, size: int) -> tuple[str | None, tuple]:
    fmt, meta = _weight_format(Path(path))
    return fmt, tuple(sorted(meta.items()))


def weight_format(path: str | Path) -> tuple[str | None, dict[str, str]]:
    """(int8 weight format or None for a float model, ONNX metadata) of an ONNX file (cached per file version)."""
    p = Path(path)
    st = p.stat()
    fmt, meta = _weight_format_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)
    return fmt, dict(meta)


def float_twin(path: Path, meta: dict[str, str]) -> Path | None:
    """The float model an int8 file was quantized from: `X_int8.onnx` -> `X.onnx` beside it (or the file named by
    the metadata key `quantized_from`), accepted only when its sha256 matches `quantized_from_sha256` if recorded."""
    from vigil.models.catalogue import sha256_file

    names = [meta["quantized_from"]] if meta.get("quantized_from") else []
    if path.stem.endswith("_int8"):
        names.append(path.stem[: -len("_int8")] + path.suffix)
    for name in names:
        twin = path.with_name(Path(name).name)
        if twin.is_file() and twin != path:
            want = meta.get("quantized_from_sha256")
            if want and sha256_file(twin) != want:
                log.warning("%s: %s is not the file it was quantized from (sha256 differs)", path.name, twin.name)
                continue
            return twin
    return None


def choose(path: str | Path, cpu: CpuInfo | None = None) -> ModelChoice:
    """The file to load for `path` on `cpu` (default: this machine) and why; see the module docstring."""
    p = Path(path)
    cpu = cpu or cpu_info()
    if p.suffix.lower() != ".onnx":
        return ModelChoice(str(p), str(p), "as stored", None, "ultralytics (PyTorch, TFLite or OpenVINO)",
                           "not an ONNX file: run by ultralytics as it is")
    fmt, meta = weight_format(p)
    if fmt is None:
        return ModelChoice(str(p), str(p), "float", None, float_kernel(cpu), "float model")
    kernel = int8_kernel(cpu)
    if fmt == "u8":
        name = "u8u8 AVX-VNNI-INT8" if "avx_vnni_int8" in cpu.flags else "u8u8 (widening to int16)"
        return ModelChoice(str(p), str(p), "int8", fmt, name, "int8 used: uint8 weights are exact on every CPU")
    if fmt == "s7" or kernel.exact_s8:
        why = ("int8 used: 7-bit weights cannot saturate the int16 pair sums" if fmt == "s7" and not kernel.exact_s8
               else f"int8 used: {kernel.why}")
        return ModelChoice(str(p), str(p), "int8", fmt, kernel.name, why)
    twin = float_twin(p, meta)
    if twin is None:
        reason = (f"int8 used although NOT exact here ({kernel.why}; 8-bit weights) and no float twin was found "
                  f"beside it; re-quantize with `vigil models quantize --weights s7`")
        log.warning("%s: %s", p.name, reason)
        return ModelChoice(str(p), str(p), "int8", fmt, kernel.name, reason)
    reason = (f"int8 requested, float used: {kernel.why} and this model has full 8-bit weights "
              f"(answers would differ from the float model; `--weights s7` makes an int8 file exact here)")
    return ModelChoice(str(p), str(twin), "float", fmt, float_kernel(cpu), reason)


def catalogue_report(cpu: CpuInfo | None = None) -> dict:
    """The catalogue as `vigil models list` shows it: each entry, whether its file is present, and for ONNX files
    which file and kernel would really run on `cpu` (default: this machine) and why."""
    from vigil.models.catalogue import catalogue

    cpu = cpu or cpu_info()
    rows = []
    for m in catalogue().values():
        row = {"name": m.name, "task": m.task, "classes": m.classes, "path": str(m.path), "present": m.path.exists(),
               "imgsz": m.imgsz, "default_for": list(m.default_for)}
        if row["present"] and m.path.suffix.lower() == ".onnx":
            c = choose(m.path, cpu)
            row["runs"] = {"file": Path(c.used).name, "precision": c.precision, "weights": c.weights,
                           "kernel": c.kernel, "reason": c.reason}
        rows.append(row)
    return {"cpu": cpu.as_dict(), "models": rows}


def catalogue_lines(report: dict):
    cpu = report["cpu"]
    yield (f"CPU: {cpu['label']}; int8 kernel {cpu['int8_kernel']} "
           f"({'exact' if cpu['int8_8bit_weights_exact'] else 'not exact'} for 8-bit weights)")
    for m in report["models"]:
        default = f" default for {','.join(m['default_for'])}" if m["default_for"] else ""
        size = f" imgsz {m['imgsz']}" if m["imgsz"] else ""
        yield (f"{m['name']:<28} {m['task']:<7} {m['classes']:<12} {'present' if m['present'] else 'missing'}"
               f"{size}{default}  {m['path']}")
        if "runs" in m:
            r = m["runs"]
            yield f"{'':<4}runs here: {r['file']} ({r['precision']}) on {r['kernel']}; {r['reason']}"
