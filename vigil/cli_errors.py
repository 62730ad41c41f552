"""Bad input on the command line: one `error: ...` line on stderr and exit status 2, never a traceback.

`run` reports click's own usage errors (a missing file, a value of the wrong type) that way too, and the
checks below look at a file before anything heavy (torch, ultralytics, ONNX Runtime) is imported, so that a
text file renamed .mp4, a truncated model or a binary config file are named with the reason in a second."""
from __future__ import annotations

import contextlib
import json
import sys
import zipfile
from pathlib import Path
from typing import NoReturn

import typer


class BadInput(ValueError):
    """A file or value from the user that cannot be used; the message names it and says why."""


def run(app) -> NoReturn:
    """Run the typer `app` and exit with its status; click's usage errors become one `error:` line.

    Click's exceptions are told by class name: typer vendors click (typer._click) in recent versions."""
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        kinds = {c.__name__ for c in type(exc).__mro__} if type(exc).__module__.startswith(("click", "typer")) else set()
        if "NoArgsIsHelpError" in kinds:  # typer has printed the help already
            sys.exit(exc.exit_code)
        if "UsageError" in kinds:
            names, ctx = [], getattr(exc, "ctx", None)
            while ctx is not None and ctx.parent is not None:
                names.append(ctx.info_name)
                ctx = ctx.parent
            where = f" (see `{' '.join(['vigil', *reversed(names)])} --help`)" if getattr(exc, "ctx", None) else ""
            print(f"error: {exc.format_message()}{where}".replace("\n", " "), file=sys.stderr)
            sys.exit(2)
        if "ClickException" in kinds:
            print(f"error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
            sys.exit(exc.exit_code)
        if "Abort" in kinds:
            print("aborted", file=sys.stderr)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def fail(message: str) -> NoReturn:
    """Bad input or a missing file: one `error:` line on stderr and exit status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@contextlib.contextmanager
def usage_errors(*kinds: type[Exception]):
    """Report the given exceptions the way `fail` does (they mean bad input, not a bug)."""
    try:
        yield
    except kinds as exc:
        fail(str(exc))


def check(check_input, value, what: str | None = None, **kw):
    """One of the checks below: its result, or its BadInput as one `error:` line (exit 2)."""
    with usage_errors(BadInput):
        return check_input(value, what, **kw)


def load_config_or_exit(path: Path):
    """The config; a file that is no config is one `error:` line, invalid content one line per error (exit 2)."""
    from vigil.config import ConfigError, load_config
    try:
        return load_config(path)
    except ConfigError as e:
        if len(e.errors) == 1 and e.errors[0].startswith(("(file):", "(root):", "line ")):  # not a config file
            fail(f"{e.source}: {e.errors[0].removeprefix('(file): ').removeprefix('(root): ')}")
        typer.echo(f"{e.source}: invalid configuration ({len(e.errors)} error(s))", err=True)
        for line in e.errors:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(2)


def _name(path: Path, what: str | None) -> str:
    return f"{what} {path}" if what else str(path)


def readable_file(path: str | Path, what: str | None = None) -> Path:
    """`path` as a Path if it is a file that can be read, else BadInput naming it and the reason."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{_name(path, what)}: no such file")
    if path.is_dir():
        raise BadInput(f"{_name(path, what)}: is a folder, not a file")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise BadInput(f"{_name(path, what)}: cannot read: {exc.strerror or exc}") from None
    return path


def text_file(path: str | Path, what: str | None = None) -> str:
    """The UTF-8 text of a readable file."""
    path = readable_file(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{_name(path, what)}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"{_name(path, what)}: cannot read: {exc.strerror or exc}") from None


def writable_target(path: str | Path, what: str | None = None) -> Path:
    """A file that is to be written: its folder must exist (or be creatable) and it must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{_name(path, what)}: is a folder, not a file")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"{_name(path, what)}: {parent} is not a folder")
    return path


def folder(path: str | Path, what: str | None = None) -> Path:
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{_name(path, what)}: no such folder")
    if not path.is_dir():
        raise BadInput(f"{_name(path, what)}: is a file, not a folder")
    return path


def yaml_mapping(path: str | Path, what: str | None = None, keys: tuple[str, ...] = ()) -> dict:
    """A YAML file holding a mapping with `keys` (e.g. an ultralytics data YAML)."""
    import yaml

    text = text_file(path, what)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BadInput(f"{_name(Path(path), what)}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{_name(Path(path), what)}: the YAML holds a {type(data).__name__}, not a mapping")
    missing = [k for k in keys if k not in data]
    if missing:
        raise BadInput(f"{_name(Path(path), what)}: no {', '.join(repr(k) for k in missing)} key")
    return data


def video_file(path: str | Path, what: str | None = None) -> tuple[float, int]:
    """(fps, declared frame count, 0 if unknown) of a video OpenCV can decode; BadInput otherwise."""
    import os
    path = readable_file(path, what)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # our one line instead of FFmpeg's complaints
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadInput(f"{_name(path, what)}: not a video OpenCV can open (damaged, truncated or another kind of file)")
        ok, img = cap.read()
        if not ok or img is None:
            raise BadInput(f"{_name(path, what)}: no frame could be decoded (damaged or truncated video)")
        fps, declared = float(cap.get(cv2.CAP_PROP_FPS) or 0.0), max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        last = declared - max(2, declared // 50)  # the tolerance vigil.replay.iter_video allows at the end
        if last > 1 and not (cap.set(cv2.CAP_PROP_POS_FRAMES, last - 1) and cap.grab()):
            raise BadInput(f"{_name(path, what)}: frame {last} of the {declared} its header declares cannot be read "
                           "(truncated or damaged video)")
        return fps, declared
    finally:
        cap.release()


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("cut off in a varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def onnx_problem(data: bytes) -> str | None:
    """Why `data` is not a whole ONNX model, or None: walks the ModelProto's top-level protobuf fields
    (cheap: the graph is one length-delimited field) and wants ir_version (1) and graph (7)."""
    seen, i = set(), 0
    try:
        while i < len(data):
            key, i = _varint(data, i)
            field, wire = key >> 3, key & 7
            if field == 0:
                raise ValueError("field number 0")
            if wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                n, i = _varint(data, i)
                i += n
            else:
                raise ValueError(f"wire type {wire}")
            if i > len(data):
                raise ValueError(f"field {field} runs past the end of the file")
            seen.add(field)
    except ValueError as exc:
        return f"not an ONNX model, or a truncated one (protobuf: {exc})"
    if not {1, 7} <= seen:
        return "not an ONNX model (no ir_version and graph)"
    return None


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` is not a PyTorch checkpoint (torch.save's zip archive, CRCs checked), or None."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"\x80\x02" or (head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5):
        return None  # torch's legacy pickle format: nothing cheap to check
    if not zipfile.is_zipfile(path):
        if head[:4] == b"PK\x03\x04":
            return "truncated or damaged PyTorch checkpoint (its zip directory is missing)"
        return "not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle)"
    try:
        with zipfile.ZipFile(path) as zf:
            if not any(n.endswith("data.pkl") for n in zf.namelist()):
                return "a zip archive, but not a PyTorch checkpoint (no data.pkl)"
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"damaged PyTorch checkpoint ({exc})"
    return f"damaged PyTorch checkpoint (CRC error in {bad})" if bad else None


def model_file(path: str | Path, what: str | None = None, suffixes: tuple[str, ...] = ()) -> Path:
    """A detector file worth loading, checked by its suffix: an ONNX model (whole protobuf), a PyTorch
    checkpoint (zip CRCs) or a TFLite flatbuffer (the LiteRT interpreter's verifier); an OpenVINO export folder
    (with its .xml) or another format is only checked for being there. `suffixes`: the ones the command takes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffixes and suffix not in suffixes:
        raise BadInput(f"{_name(path, what)}: expected a {' or '.join(suffixes)} file")
    if path.is_dir() and not suffixes and any(path.glob("*.xml")):
        return path  # an ultralytics OpenVINO export folder
    readable_file(path, what)
    problem = None
    if suffix == ".onnx":
        problem = onnx_problem(path.read_bytes())
    elif suffix in (".pt", ".pth"):
        problem = checkpoint_problem(path)
    elif suffix == ".tflite":
        with open(path, "rb") as fh:
            head = fh.read(8)
        problem = None if head[4:8] == b"TFL3" else "not a TFLite model (no TFL3 flatbuffer identifier)"
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            Interpreter = None
        if problem is None and Interpreter is not None:
            try:
                Interpreter(model_path=str(path))
            except ValueError as exc:
                problem = f"truncated or damaged TFLite model ({exc})"
    if problem:
        raise BadInput(f"{_name(path, what)}: {problem}")
    return path


def database_problem(exc: Exception) -> str | None:
    """One line for a database URL that cannot be used (SQLAlchemy / driver / Alembic error), else None."""
    try:
        from alembic.util import CommandError
        from sqlalchemy import exc as sa_exc
    except ImportError:
        return None
    if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return f"not a usable SQLAlchemy URL: {exc}"
    if isinstance(exc, sa_exc.DBAPIError):
        return f"cannot use the database: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
    if isinstance(exc, ModuleNotFoundError):
        return f"its database driver is not installed ({exc})"
    if isinstance(exc, CommandError):
        return str(exc).strip().splitlines()[0]
    return None


def emit(result: dict, human_lines, as_json: bool) -> None:
    """A command's result: readable lines unless --json, then the JSON object as the last line."""
    if not as_json:
        for line in human_lines(result):
            typer.echo(line)
    typer.echo(json.dumps(result, ensure_ascii=False))
