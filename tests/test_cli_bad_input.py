"""Every CLI command given a bad file or value: exit status 2 and one `error:` line on stderr that names the
file or field and the reason; never a Python traceback. And `vigil replay` runs the default model at its
own input size without an `imgsz ... ignored` warning.

The commands run as subprocesses, all submitted at once to a pool of two (most stop before torch is
imported, in about a second)."""
from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import REPO, run_vigil, shared_path

CLIP = ("data", "video", "car_fire_handheld.mp4")  # 6.3 s, 190 frames, moov atom at the end

# (id, argv with {name} for files made by `bad_files`, the file or field the error line names, the reason it gives)
CASES = [
    ("config-check-missing", ["config", "check", "{missing_yaml}"], "{missing_yaml}", "No such file"),
    ("config-check-folder", ["config", "check", "{folder}"], "{folder}", "Is a directory"),
    ("config-check-binary", ["config", "check", "{binary_yaml}"], "{binary_yaml}", "not UTF-8"),
    ("config-check-latin1", ["config", "check", "{latin1_yaml}"], "{latin1_yaml}", "not UTF-8"),
    ("config-check-broken-yaml", ["config", "check", "{broken_yaml}"], "{broken_yaml}", "invalid YAML"),
    ("config-check-not-mapping", ["config", "check", "{scalar_yaml}"], "{scalar_yaml}", "must hold a mapping"),
    ("config-reference-write-missing", ["config", "reference", "--write", "{missing_md}"], "{missing_md}", "no such file"),
    ("config-reference-write-binary", ["config", "reference", "--write", "{binary_yaml}"], "{binary_yaml}", "not UTF-8"),
    ("config-reference-write-folder", ["config", "reference", "--write", "{folder}"], "{folder}", "is a folder"),
    ("serve-config-binary", ["serve", "--config", "{binary_yaml}"], "{binary_yaml}", "not UTF-8"),
    ("serve-config-missing", ["serve", "--config", "{missing_yaml}"], "{missing_yaml}", "No such file"),
    ("serve-port", ["serve", "--config", "{binary_yaml}", "--port", "70000"], "--port", "less than or equal to 65535"),
    ("demo-port", ["demo", "--port", "0"], "--port", "greater than or equal to 1"),
    ("replay-missing", ["replay", "{missing_mp4}"], "{missing_mp4}", "does not exist"),
    ("replay-folder", ["replay", "{folder}"], "{folder}", "is a directory"),
    ("replay-text-as-mp4", ["replay", "{text_mp4}", "--fast"], "{text_mp4}", "not a video"),
    ("replay-cut-mp4", ["replay", "{cut_mp4}", "--fast"], "{cut_mp4}", "not a video"),
    ("replay-truncated-faststart-mp4", ["replay", "{truncated_mp4}", "--fast"], "{truncated_mp4}", "truncated"),
    ("replay-config-binary", ["replay", "{good_mp4}", "--config", "{binary_yaml}"], "{binary_yaml}", "not UTF-8"),
    ("replay-model-text", ["replay", "{good_mp4}", "--fast", "--model", "{text_onnx}"], "{text_onnx}", "not an ONNX model"),
    ("replay-model-truncated", ["replay", "{good_mp4}", "--fast", "--model", "{truncated_onnx}"], "{truncated_onnx}", "truncated"),
    ("replay-fire-model-text", ["replay", "{good_mp4}", "--fast", "--fire-model", "{text_pt}"], "{text_pt}", "not a PyTorch checkpoint"),
    ("replay-detect-fps", ["replay", "{good_mp4}", "--detect-fps", "abc"], "--detect-fps", "valid number"),
    ("replay-zone", ["replay", "{good_mp4}", "--zone", "1,2,3"], "--zone", "pairs"),
    ("db-upgrade-not-a-url", ["db", "upgrade", "not-a-url"], "not-a-url", "Could not parse"),
    ("db-upgrade-no-folder", ["db", "upgrade", "sqlite:///{missing_dir}/vigil.db"], "{missing_dir}", "unable to open database file"),
    ("convert-yolov5-text", ["models", "convert-yolov5", "--source", "{text_pt}", "--out", "{out_pt}"], "{text_pt}", "not a PyTorch checkpoint"),
    ("convert-yolov5-truncated", ["models", "convert-yolov5", "--source", "{truncated_pt}", "--out", "{out_pt}"], "{truncated_pt}", "truncated"),
    ("convert-yolov5-out-folder", ["models", "convert-yolov5", "--out", "{folder}"], "{folder}", "is a folder"),
    ("convert-yolov8-text", ["models", "convert-yolov8", "--source", "{text_tflite}", "--out", "{out_pt}"], "{text_tflite}", "not a TFLite model"),
    ("convert-yolov8-truncated", ["models", "convert-yolov8", "--source", "{truncated_tflite}", "--out", "{out_pt}"], "{truncated_tflite}", "truncated"),
    ("build-coco-truncated", ["models", "build-coco", "--source", "{truncated_pt}", "--out", "{out_onnx}"], "{truncated_pt}", "truncated"),
    ("build-coco-imgsz", ["models", "build-coco", "--imgsz", "330", "--out", "{out_onnx}"], "--imgsz", "multiple of 32"),
    ("quantize-text", ["models", "quantize", "--model", "{text_onnx}", "--out", "{out_onnx}"], "{text_onnx}", "not an ONNX model"),
    ("quantize-truncated", ["models", "quantize", "--model", "{truncated_onnx}", "--out", "{out_onnx}"], "{truncated_onnx}", "truncated"),
    ("quantize-calibration-not-folder", ["models", "quantize", "--model", "{good_onnx}", "--out", "{out_onnx}",
                                         "--calibration", "{text_mp4}"], "{text_mp4}", "is a file, not a folder"),
    ("quantize-folder", ["models", "quantize", "--model", "{folder}", "--out", "{out_onnx}"], "{folder}", "expected a .onnx file"),
    ("train-data-binary", ["models", "train", "fire-smoke", "--data", "{binary_yaml}"], "{binary_yaml}", "not UTF-8"),
    ("train-init-text", ["models", "train", "fire-smoke", "--init", "{text_pt}"], "{text_pt}", "not a PyTorch checkpoint"),
    ("eval-model-text", ["models", "eval", "--model", "{text_onnx}"], "{text_onnx}", "not an ONNX model"),
    ("eval-data-not-mapping", ["models", "eval", "--model", "{text_onnx}", "--data", "{scalar_yaml}"], "{scalar_yaml}", "not a mapping"),
    ("export-text", ["models", "export", "{text_pt}"], "{text_pt}", "not a PyTorch checkpoint"),
    ("export-truncated", ["models", "export", "{truncated_pt}"], "{truncated_pt}", "truncated"),
    ("bench-detector-truncated", ["bench", "detector", "--model", "{truncated_onnx}"], "{truncated_onnx}", "truncated"),
    ("bench-detector-not-onnx", ["bench", "detector", "--model", "{text_pt}"], "{text_pt}", "expected a .onnx file"),
    ("bench-streams-model-text", ["bench", "streams", "--model", "{text_onnx}"], "{text_onnx}", "not an ONNX model"),
    ("bench-streams-size", ["bench", "streams", "--size", "640by360"], "--size", "must look like 640x360"),
]



def _faststart_copy(src: Path, dst: Path, seconds: float | None = None) -> Path:
    """`src`'s stream remuxed with the index (moov) first, like the sample clips and most camera exports."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-an", "-movflags", "+faststart"]
    subprocess.run(cmd + (["-t", str(seconds)] if seconds else []) + [str(dst)], check=True, timeout=60)
    return dst


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    clip = shared_path(*CLIP)
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg missing (scripts/setup_system.sh installs it)")
    tflite = shared_path("models", "yolov8n_coco_int8.tflite")
    onnx = REPO / "models" / "fire_smoke" / "fire_smoke_yolov8n_320.onnx"
    pt = REPO / "models" / "fire_smoke" / "fire_smoke_yolov8n_320.pt"
    full = _faststart_copy(clip, d / "full.mp4")
    files = {
        "folder": d / "a_folder", "missing_dir": d / "no" / "such" / "folder",
        "missing_yaml": d / "missing.yaml", "missing_md": d / "missing.md", "missing_mp4": d / "missing.mp4",
        "binary_yaml": (d / "binary.yaml", bytes(range(128, 256)) * 16),
        "latin1_yaml": (d / "latin1.yaml", "cameras: [{name: 东侧出口}]\n".encode("gb18030")),
        "broken_yaml": (d / "broken.yaml", b"cameras: [\n  - id: x\n"),
        "scalar_yaml": (d / "scalar.yaml", b"just a sentence, not a mapping\n"),
        "text_mp4": (d / "text.mp4", b"this is a text file renamed to .mp4\n"),
        "cut_mp4": (d / "cut.mp4", clip.read_bytes()[:clip.stat().st_size // 2]),  # index lost with the end
        "truncated_mp4": (d / "truncated.mp4", full.read_bytes()[:full.stat().st_size // 2]),  # index kept, frames cut
        "good_mp4": _faststart_copy(clip, d / "good.mp4", 2.0),
        "good_onnx": onnx, "text_onnx": (d / "model.onnx", b"not an onnx model\n"),
        "truncated_onnx": (d / "truncated.onnx", onnx.read_bytes()[:onnx.stat().st_size // 2]),
        "text_pt": (d / "model.pt", b"not a checkpoint\n"),
        "truncated_pt": (d / "truncated.pt", pt.read_bytes()[:pt.stat().st_size // 2]),
        "text_tflite": (d / "model.tflite", b"not a tflite model\n"),
        "truncated_tflite": (d / "truncated.tflite", tflite.read_bytes()[:tflite.stat().st_size // 2]),
        "out_pt": d / "out" / "x.pt", "out_onnx": d / "out" / "x.onnx",
    }
    (d / "a_folder").mkdir()
    out = {}
    for name, value in files.items():
        if isinstance(value, tuple):
            value[0].write_bytes(value[1])
            value = value[0]
        out[name] = str(value)
    return out


@pytest.fixture(scope="module")
def runs(bad_files) -> dict[str, Future]:
    """Every case (and the replay runs below) submitted at once; each test waits for its own."""
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {case: pool.submit(run_vigil, *[a.format(**bad_files) for a in argv], timeout=120)
               for case, argv, _, _ in CASES}
    clip = bad_files["good_mp4"]
    futures["replay-default"] = pool.submit(run_vigil, "replay", clip, "--fast", "--json")
    cfg = Path(bad_files["folder"]).parent / "imgsz640.yaml"
    cfg.write_text(
        "institutions: [{id: a, name: A, region: X}]\n"
        f"cameras: [{{id: c, name: c, url: {clip}, institution: a, site_kind: corridor,\n"
        "  zones: [{name: z, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], rules: [{type: blocked_exit}]}]}]\n"
        "detector: {imgsz: 640}\n", encoding="utf-8")
    futures["replay-imgsz-640"] = pool.submit(run_vigil, "replay", clip, "--config", str(cfg), "--fast", "--json")
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case,argv,named,reason", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_exit_2(runs, bad_files, case, argv, named, reason):
    proc = runs[case].result()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert len(errors) == 1 and len(lines) == 1, proc.stderr
    named = named.format(**bad_files)
    assert named in errors[0], (named, errors[0])
    assert reason in errors[0], (reason, errors[0])


def test_replay_runs_the_default_model_at_its_own_size_without_a_warning(runs):
    proc = runs["replay-default"].result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ignored" not in proc.stderr and "imgsz" not in proc.stderr, proc.stderr
    assert "frames analysed" in proc.stderr
    # a size the user asked for that the fixed-size model cannot take is still said
    proc = runs["replay-imgsz-640"].result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "input fixed at 320x320, imgsz 640 ignored" in proc.stderr, proc.stderr
