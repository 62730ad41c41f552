"""What this CPU can do for ONNX Runtime: its model name and flags, and which int8 kernel ONNX Runtime's MLAS
library picks on it.

Why it matters: vigil's int8 models are static QDQ models (uint8 activations, int8 or uint8 weights) that ONNX
Runtime fuses into QLinearConv and runs with MLAS's quantized GEMM. MLAS chooses the kernel from CPUID at start-up
(onnxruntime/core/mlas/lib/platform.cpp):

| CPU | u8 x s8 kernel | exact for 8-bit weights? |
|---|---|---|
| AMX-INT8 (Sapphire Rapids and later) | AMX tiles | yes (int32 accumulation) |
| AVX512-VNNI or AVX-VNNI | `vpdpbusd` | yes (four u8 x s8 products summed straight into int32) |
| AVX512 BW/DQ/VL without VNNI | `vpmaddubsw` + `vpmaddwd` | **no**: each pair of products is summed into a saturating int16 |
| AVX2 without VNNI | `vpmaddubsw` + `vpmaddwd` | **no**, same |
| SSE only | widening to int16, `pmaddwd` | yes |
| aarch64 | NEON (`sdot`/`udot` or widening) | yes |

With 8-bit weights a pair sum reaches 2 x 255 x 128 = 65,280 and saturates at 32,767: on AVX2 the shipped 8-bit
int8 models lost 40 % of the fires their float model finds (issue #14). Weights limited to 7 bits (-64..63) keep
every pair within 2 x 255 x 64 = 32,640, so the same kernel is exact; uint8 weights go through MLAS's u8 x u8
kernel, which widens to int16 first and is exact everywhere (but no faster than float without AVX-VNNI-INT8).

`cpu_info()` reads /proc/cpuinfo (Linux); tests pass made-up flag sets to `int8_kernel` to check each CPU kind.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# flags worth naming next to a measured speed (the ones that change ONNX Runtime's kernels)
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx_vnni_int8", "amx_int8", "amx_tile",
               "asimddp")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    arch: str
    flags: frozenset[str]
    cores: int

    @property
    def speed_flags(self) -> list[str]:
        """The flags among SPEED_FLAGS this CPU has, in that order."""
        return [f for f in SPEED_FLAGS if f in self.flags]

    def label(self) -> str:
        """E.g. `AMD EPYC, 2 cores, avx2 fma (no VNNI, no AVX-512)`: what a measured figure should carry."""
        flags = " ".join(self.speed_flags) or "no AVX2"
        missing = []
        if self.arch in ("x86_64", "amd64") and not self.flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
            missing.append("no VNNI")
        if self.arch in ("x86_64", "amd64") and "avx512f" not in self.flags:
            missing.append("no AVX-512")
        return f"{self.model}, {self.cores} cores, {flags}" + (f" ({', '.join(missing)})" if missing else "")

    def as_dict(self) -> dict:
        kernel = int8_kernel(self)
        return {"model": self.model, "arch": self.arch, "cores": self.cores, "flags": self.speed_flags,
                "int8_kernel": kernel.name, "int8_8bit_weights_exact": kernel.exact_s8, "label": self.label()}


def parse_cpuinfo(text: str, arch: str = "x86_64", cores: int | None = None) -> CpuInfo:
    """CpuInfo from the text of /proc/cpuinfo (x86 `flags`/`model name`, arm `Features`/`CPU part`)."""
    model, flags, n = "", set(), 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "processor":
            n += 1
        elif key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return CpuInfo(model or arch, arch, frozenset(flags), cores or max(n, 1))


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (cached). Where /proc/cpuinfo is missing (not Linux) the flags are empty."""
    import os

    arch = platform.machine().lower() or "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo(platform.processor() or arch, arch, frozenset(), os.cpu_count() or 1)
    return parse_cpuinfo(text, arch, os.cpu_count())


@dataclass(frozen=True)
class Int8Kernel:
    name: str  # e.g. "u8s8 AVX2 (vpmaddubsw, int16 pair sums)"
    exact_s8: bool  # u8 x s8 with full 8-bit weights computed without saturation
    why: str  # one line for a status page


def int8_kernel(cpu: CpuInfo) -> Int8Kernel:
    """The u8 x s8 kernel MLAS uses on `cpu`, and whether 8-bit weights are safe on it (see the module table)."""
    f = cpu.flags
    if cpu.arch not in ("x86_64", "amd64", "i686", "i386", "x86"):
        return Int8Kernel(f"u8s8 {cpu.arch} NEON", True, f"{cpu.arch}: int8 products are accumulated in int32")
    if {"amx_int8", "amx_tile"} <= f:
        return Int8Kernel("u8s8 AMX-INT8", True, "AMX tiles accumulate int8 products in int32")
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= f:  # MLAS prefers its AVX-512 kernels when present
        if "avx512_vnni" in f:
            return Int8Kernel("u8s8 AVX512-VNNI (vpdpbusd)", True, "VNNI sums int8 products straight into int32")
        return Int8Kernel("u8s8 AVX512 core (vpmaddubsw, int16 pair sums)", False,
                          "CPU lacks VNNI: the AVX-512 u8s8 kernel sums pairs of products in a saturating int16")
    if "avx_vnni" in f and "avx2" in f:
        return Int8Kernel("u8s8 AVX-VNNI (vpdpbusd)", True, "VNNI sums int8 products straight into int32")
    if "avx2" in f:
        return Int8Kernel("u8s8 AVX2 (vpmaddubsw, int16 pair sums)", False,
                          "CPU lacks VNNI: the AVX2 u8s8 kernel sums pairs of products in a saturating int16")
    return Int8Kernel("u8s8 SSE (widening)", True, "no AVX2: MLAS's SSE kernel widens to int16 before multiplying")


def float_kernel(cpu: CpuInfo) -> str:
    f = cpu.flags
    if cpu.arch not in ("x86_64", "amd64", "i686", "i386", "x86"):
        return f"float32 {cpu.arch}"
    if "avx512f" in f:
        return "float32 AVX-512"
    if {"avx2", "fma"} <= f:
        return "float32 AVX2/FMA3"
    return "float32 SSE/AVX"
