"""Photos on the ledger: an officer's before/after pictures, an inspector's photos, a complaint's photo and the
camera re-check's annotated picture. Checked (size, real JPEG/PNG/WebP by decoding, not by name or header),
stored under the media folder by content hash, kept while the hazard is not closed whatever media retention says
(api/retention.py leaves `hazards/` alone; closing a hazard does not delete them either: the ledger is a record)."""
from __future__ import annotations

import hashlib
import io
import os
import sys
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.api.db_ledger import HazardPhotoRow
from vigil.ledger.states import LedgerError

KINDS = ("before", "after", "inspection", "recheck", "complaint")
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


class TooLarge(LedgerError):
    """The upload is above the configured size (413)."""


class PhotoLimit(LedgerError):
    """The hazard has as many photos as it may have (409)."""


def check_image(data: bytes, max_bytes: int) -> tuple[str, str]:
    """(content type, file extension) of a real JPEG, PNG or WebP picture; LedgerError otherwise."""
    if len(data) > max_bytes:
        raise TooLarge(f"the photo is {len(data)} bytes; at most {max_bytes} are accepted")
    if not data:
        raise LedgerError("the photo is empty")
    # Pillow's own opener: ultralytics replaces Image.open with one that pip-installs a HEIF plugin on unknown input
    opener = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", None) or Image.open
    try:
        with opener(io.BytesIO(data), formats=list(FORMATS)) as im:
            fmt = im.format
            if fmt not in FORMATS:
                raise LedgerError(f"photos must be JPEG, PNG or WebP, not {fmt or 'unknown'}")
            if im.width * im.height > MAX_PIXELS:
                raise LedgerError(f"the photo is {im.width}x{im.height} pixels; at most {MAX_PIXELS} pixels")
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, LedgerError):
            raise
        raise LedgerError("the upload is not a readable JPEG, PNG or WebP picture") from None
    return FORMATS[fmt]


def store_photo(s: Session, media_dir: Path, now: datetime, *, data: bytes, kind: str, uploaded_by: str | None,
                hazard_id: int | None = None, complaint_id: int | None = None, max_bytes: int,
                max_per_hazard: int | None = None) -> HazardPhotoRow:
    """Check and store one photo (file written atomically, row added to the session, not committed)."""
    if kind not in KINDS:
        raise LedgerError(f"photo kind must be one of {', '.join(KINDS)}")
    ctype, ext = check_image(data, max_bytes)
    if hazard_id is not None and max_per_hazard is not None:
        n = s.scalar(select(func.count()).select_from(HazardPhotoRow).where(HazardPhotoRow.hazard_id == hazard_id))
        if (n or 0) >= max_per_hazard:
            raise PhotoLimit(f"hazard {hazard_id} has {n} photos already; at most {max_per_hazard}")
    digest = hashlib.sha256(data).hexdigest()
    folder = f"hazards/{hazard_id}" if hazard_id is not None else f"complaints/{complaint_id}"
    rel = f"{folder}/{kind}-{digest[:24]}.{ext}"
    path = Path(media_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    row = HazardPhotoRow(hazard_id=hazard_id, complaint_id=complaint_id, kind=kind, path=rel, content_type=ctype,
                         size=len(data), sha256=digest, uploaded_by=uploaded_by, uploaded_at=now)
    s.add(row)
    s.flush()
    return row


def photo_file(media_dir: Path, row: HazardPhotoRow) -> Path | None:
    p = (Path(media_dir) / row.path).resolve()
    if not str(p).startswith(str(Path(media_dir).resolve()) + os.sep) or not p.is_file():
        return None
    return p
