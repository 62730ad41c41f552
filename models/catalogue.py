"""Model catalogue: name, task, classes, file, sha256, source; and path resolution."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")


def shared_dir() -> Path:
    """The shared data folder: $VIGIL_SHARED, else ../shared beside the project checkout."""
    env = os.environ.get("VIGIL_SHARED")
    return Path(env) if env else PROJECT_ROOT.parent / "shared"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    classes: str
    file: str
    sha256: str
    source: str
    licence: str
    location: str = "project"
    default_for: tuple[str, ...] = field(default_factory=tuple)
    imgsz: int | None = None  # the input size it was trained for (None: the detector's setting)
    card: str | None = None  # model card (Markdown), relative to the project

    @property
    def path(self) -> Path:
        base = shared_dir() if self.location == "shared" else PROJECT_ROOT
        return base / self.file

    def verify(self) -> bool:
        return sha256_file(self.path) == self.sha256


@lru_cache(maxsize=1)
def catalogue() -> dict[str, ModelEntry]:
    data = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))
    out = {}
    for m in data["models"]:
        m = dict(m)
        m["default_for"] = tuple(m.get("default_for") or ())
        out[m["name"]] = ModelEntry(**m)
    return out


def default_model(purpose: str) -> ModelEntry | None:
    for m in catalogue().values():
        if purpose in m.default_for:
            return m
    return None


class ModelNotFound(FileNotFoundError):
    pass


def resolve_model(name_or_path: str | None, purpose: str = "objects") -> Path:
    """A catalogue name, a path, or None (env VIGIL_MODEL, then the catalogue default for `purpose`)."""
    ref = name_or_path or (os.environ.get("VIGIL_MODEL") if purpose == "objects" else None)
    if not ref:
        entry = default_model(purpose)
        if entry is None:
            raise ModelNotFound(f"no model configured for '{purpose}' and the catalogue has no default")
        ref = entry.name
    cat = catalogue()
    if ref in cat:
        p = cat[ref].path
        if not p.exists():
            raise ModelNotFound(f"model '{ref}' expects its file at {p}, which is missing (set VIGIL_SHARED or run `vigil models pull {ref}` where downloads are allowed)")
        return p
    p = Path(ref).expanduser()
    if not p.is_absolute() and not p.exists() and (PROJECT_ROOT / p).exists():
        p = PROJECT_ROOT / p
    if not p.exists():
        raise ModelNotFound(f"model '{ref}' is neither a catalogue name ({', '.join(cat)}) nor an existing file")
    return p


FIRE_IMGSZ_DEFAULT = 320


def resolve_fire_model(ref: str | None, imgsz: int | None = None) -> tuple[Path | None, int, str | None]:
    """(path, input size, None) for the fire/smoke model, or (None, size, reason it is unavailable).

    `ref` is the config's `detector.fire_model`: 'auto' (the catalogue's default fire model), a catalogue
    name or a path; None means switched off. Never raises: a missing model disables the fire_smoke rules,
    which then say why in /api/health."""
    size = imgsz or FIRE_IMGSZ_DEFAULT
    if ref is None:
        return None, size, "switched off in the configuration (detector.fire_model: null)"
    entry = default_model("fire") if ref == "auto" else catalogue().get(ref)
    if ref == "auto" and entry is None:
        return None, size, "the model catalogue names no default fire/smoke model"
    try:
        path = resolve_model(entry.name if entry else ref, purpose="fire")
    except ModelNotFound as exc:
        return None, size, str(exc)
    return path, imgsz or (entry.imgsz if entry and entry.imgsz else FIRE_IMGSZ_DEFAULT), None
