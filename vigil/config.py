"""The one YAML configuration file, validated by pydantic.

Unknown keys are rejected everywhere; every field has a title and a description (they feed the
configuration reference in the README and `vigil config schema`). The rules' parameters live in
vigil/rules_config.py.
"""
from __future__ import annotations

import re
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator, model_validator

from vigil.outbox.config import NotificationsConfig, SpoolConfig  # notifications and the event spool (issue #15)
from vigil.ledger.config import HazardsConfig  # the hazard ledger (issue #16)
from vigil.live_config import LiveConfig  # live viewing: WebRTC relay, MJPEG fallback (issue #17)
from vigil.rules_config import NO_NUL, RULE_TYPES, F, Rule, Strict  # the rules' parameters, schedules, class lists
from vigil.cluster.config import ClusterConfig  # cluster mode on Ray (issue #19)

SiteKind = Literal["gate", "control_room", "corridor", "exit", "stairwell", "lobby", "other"]
PASSAGE_KINDS: frozenset[str] = frozenset({"exit", "corridor", "stairwell"})
INDOOR_PASSAGE_KINDS: frozenset[str] = frozenset({"exit", "corridor", "stairwell", "lobby"})
STAFFED_KINDS: frozenset[str] = frozenset({"control_room", "gate"})
GATE_KINDS: frozenset[str] = frozenset({"gate", "exit", "lobby"})
# rule type -> the site kinds a camera holding it must be of, and those kinds in words (rules not named: any kind)
RULE_SITE_KINDS: dict[str, tuple[frozenset[str], str]] = {
    "blocked_exit": (PASSAGE_KINDS, "exit, corridor or stairwell"),
    "ebike_indoor": (INDOOR_PASSAGE_KINDS, "corridor, exit, stairwell or lobby"),
    "unattended_room": (STAFFED_KINDS, "control_room or gate"),
    "gate": (GATE_KINDS, "gate, exit or lobby"),
}
# a region path: at most 255 characters (the database column), at least one part that is not blank
REGION_PATTERN = r"^[^\x00]*[^\x00/\s][^\x00]*$"
# the schema of a polygon point (validated by Zone._poly, which names the point; stated here for API clients)
_POINT_SCHEMA = {"type": "array", "prefixItems": [{"type": "number", "minimum": 0, "maximum": 1}] * 2,
                 "minItems": 2, "maxItems": 2}


class Zone(Strict):
    name: str = F(title="Zone name", description="Unique within the camera, e.g. 'east exit'.", min_length=1, max_length=80,
                  pattern=NO_NUL)
    polygon: list[tuple[float, float]] = F(title="Polygon", description="Vertices (x, y) in 0..1 of the frame width/height.",
                                           json_schema_extra={"minItems": 3, "items": _POINT_SCHEMA})
    rules: list[Rule] = F(default_factory=list, title="Rules", description="Rules evaluated inside this zone.")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError("needs >= 3 points")
        for i, (x, y) in enumerate(v):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point {i} ({x}, {y}) is outside 0..1")
        area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(v, v[1:] + v[:1])))
        if area < 1e-4:
            raise ValueError("polygon has no area")
        return v


FIRE_MIN_HZ = 2.0  # fire/smoke confirmation needs k of n frames inside 3 s
GATE_MIN_HZ = 5.0  # the gate follows walking people from frame to frame (4 Hz lost people in a crowd: 4 in 1 out on street_crowd.mp4, 7 in 0 out at 5)


class Camera(Strict):
    id: str = F(title="Camera id", description="Stable id used in URLs: letters, digits, '-' and '_'.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = F(title="Name", description="Human name shown in the UI, e.g. '一楼东侧安全出口'.", min_length=1, pattern=NO_NUL)
    url: str = F(title="Stream URL", description="rtsp:// (pulled over TCP), http(s):// MJPEG, or a video file path.", pattern=NO_NUL)
    institution: str = F(title="Institution", description="Id of the institution this camera belongs to.")
    site_kind: SiteKind = F(title="Site kind", description="gate | control_room | corridor | exit | stairwell | lobby | other.")
    detect_fps: float = F(1.0, title="Detect rate", description="Frames per second sent to the detector; a camera with a fire_smoke rule runs at least 2 (flame and smoke must be confirmed within 3 s), one with a gate rule at least 5 (it follows walking people).", gt=0, le=30)
    enabled: bool = F(True, title="Enabled", description="Disabled cameras are not pulled.")
    offline_after_s: float = F(60.0, title="Offline after seconds", description="Raise camera_offline after this long without frames.", gt=0)
    keyframes_only: bool = F(False, title="Key frames only", description="Decode key frames alone (skips the rest of each GOP): for low-rate cameras whose key-frame interval is at most 1/detect_fps seconds; cuts decoding cost by the GOP length.")
    loop: bool = F(True, title="Loop file", description="For file sources: start again at the end (demo cameras).")
    zones: list[Zone] = F(default_factory=list, title="Zones", description="Zones with their rules.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme = urlsplit(v).scheme.lower()
        if scheme in ("rtsp", "rtsps", "http", "https"):
            if not urlsplit(v).hostname:
                raise ValueError("stream URL has no host")
            return v
        if scheme in ("", "file"):
            return v
        raise ValueError(f"unsupported scheme '{scheme}': use rtsp://, http(s):// or a file path")

    @model_validator(mode="after")
    def _zones(self) -> "Camera":
        names = [z.name for z in self.zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone names must be unique, repeated: {sorted(dup)}")
        for zi, z in enumerate(self.zones):
            for ri, r in enumerate(z.rules):
                where = f"zones[{zi}].rules[{ri}]"
                kinds, in_words = RULE_SITE_KINDS.get(r.type, (None, ""))
                if kinds is not None and self.site_kind not in kinds:
                    raise ValueError(f"{where}: {r.type} needs a camera of site kind {in_words}, not {self.site_kind}")
                if r.type == "unattended_room" and r.min_persons is None:
                    r.min_persons = 2 if self.site_kind == "control_room" else 1
        return self

    @property
    def has_fire_rule(self) -> bool:
        """An enabled fire_smoke rule in any zone of this camera."""
        return any(r.type == "fire_smoke" and r.enabled for z in self.zones for r in z.rules)

    @property
    def people_only(self) -> bool:
        """Every enabled rule looks only at people (unattended_room, gate; fire_smoke's person check), and one of them
        is unattended_room or gate: the person model can stand in for the objects model on this camera."""
        types = {r.type for z in self.zones for r in z.rules if r.enabled}
        return bool(types & {"unattended_room", "gate"}) and types <= {"unattended_room", "gate", "fire_smoke"}

    @property
    def has_gate_rule(self) -> bool:
        return any(r.type == "gate" and r.enabled for z in self.zones for r in z.rules)

    @property
    def effective_detect_fps(self) -> float:
        """detect_fps, raised to FIRE_MIN_HZ when a fire_smoke rule is enabled on this camera and to GATE_MIN_HZ
        when a gate rule is."""
        fps = max(self.detect_fps, FIRE_MIN_HZ) if self.has_fire_rule else self.detect_fps
        return max(fps, GATE_MIN_HZ) if self.has_gate_rule else fps


class Institution(Strict):
    id: str = F(title="Institution id", description="Stable id: letters, digits, '-' and '_'.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = F(title="Name", description="Official name, e.g. 'XX县社会福利中心'.", min_length=1, pattern=NO_NUL)
    region: str = F(title="Region path", description="Administrative path from county down, '/'-separated, e.g. 'XX县/YY镇'.", min_length=1,
                    max_length=255, pattern=REGION_PATTERN)
    kind: Literal["elder_care", "child_welfare", "relief_station", "funeral_home", "other"] = F("elder_care", title="Kind", description="Type of civil-affairs institution.")


class DetectorConfig(Strict):
    model: str | None = F(None, title="Model", description="Catalogue name or path of an ultralytics model (.pt/.onnx/.tflite/OpenVINO dir); default: env VIGIL_MODEL, else the catalogue's coco default.")
    imgsz: int = F(320, title="Input size", description="Detector input size in pixels (exports with a fixed input, such as the default yolov5n-coco-320 or the 640 px TFLite, run at their own size).", ge=64, le=1920)
    confidence: float = F(0.25, title="Detector confidence", description="Lowest score the detector reports; rules apply their own thresholds.", gt=0, le=1)
    person_model: str | None = F(None, title="Person model", description="Catalogue name or path of a person-only model run instead of the objects model on cameras whose rules look only at people (unattended_room, gate, and fire_smoke's person check): people seen from the ceiling or a high corner, which the COCO model misses. It costs no extra model call. null: the objects model everywhere.")
    fire_model: str | None = F("auto", title="Fire/smoke model", description="Catalogue name or path of a fire/smoke model; 'auto' takes the catalogue's default fire model (the one vigil trains and ships); null switches fire_smoke rules off (they then report themselves disabled).")
    threads: int | None = F(None, title="Inference threads", description="Inference calls run side by side, each single-threaded (ONNX Runtime); default: one per core. On small CPUs this beats one call with many threads, whose threads wait on each other and on the decoders.", ge=1, le=256)
    max_batch: int = F(8, title="Maximum batch", description="Frames from different cameras run through a model in one call, at most this many.", ge=1, le=64)
    still_recheck_s: float = F(2.0, title="Still-scene re-check seconds", description="While a camera's picture does not move, its models run only this often (the rules keep their rate with the remembered detections).", gt=0, le=60)
    fire_imgsz: int | None = F(None, title="Fire model input size", description="Input size for the fire/smoke model; default: the size the catalogue entry was trained at, else 320.", ge=64, le=1920)


class ClipsConfig(Strict):
    enabled: bool = F(True, title="Clips enabled", description="Record an MP4 evidence clip per event, cut from the camera's own encoded stream (no re-encoding).")
    pre_s: float = F(5.0, title="Seconds before", description="Clip starts this long before the event (at the key frame at or before that moment).", ge=0, le=300)
    post_s: float = F(10.0, title="Seconds after", description="Clip ends this long after the event started.", gt=0, le=600)
    ring_s: float = F(20.0, title="Ring seconds", description="Seconds of encoded video each camera keeps in memory for clips; must be >= pre_s.", gt=0, le=600, validate_default=True)

    @field_validator("ring_s")
    @classmethod
    def _ring_covers_pre(cls, v: float, info: ValidationInfo) -> float:
        pre = info.data.get("pre_s")
        if pre is not None and v < pre:
            raise ValueError(f"must be >= pre_s ({pre:g}), got {v:g}: the ring could not hold the seconds before an event")
        return v


class RetentionConfig(Strict):
    max_age_days: float = F(30.0, title="Maximum age (days)", description="Snapshots and clips older than this are deleted.", gt=0)
    min_free_mb: float = F(1024.0, title="Minimum free space (MB)", description="While the media disk has less free space than this, the oldest media files are deleted.", ge=0)
    max_media_mb: float | None = F(None, title="Maximum media size (MB)", description="While media (snapshots + clips) take more than this, the oldest files are deleted; null: no limit.", gt=0)
    check_interval_s: float = F(300.0, title="Check interval (s)", description="How often retention runs.", ge=1)


class StorageConfig(Strict):
    database_url: str | None = F(None, title="Database URL", description="SQLAlchemy URL; default: sqlite file under data_dir. postgresql+psycopg://... for PostgreSQL.")
    data_dir: str = F(".vigil-data", title="Data directory", description="Where the SQLite file and media (snapshots, clips) are written.")
    clips: ClipsConfig = F(default_factory=ClipsConfig, title="Evidence clips", description="MP4 clip per event from a ring buffer of the camera's packets.")
    retention: RetentionConfig = F(default_factory=RetentionConfig, title="Media retention", description="Deletes old media by age, free disk space and total size.")
    spool: SpoolConfig = F(default_factory=SpoolConfig, title="Event spool", description="Where event writes wait while the database is unreachable.")


class ServerConfig(Strict):
    host: str = F("127.0.0.1", title="Host", description="Address the API listens on.")
    port: int = F(8470, title="Port", description="Port the API listens on.", ge=1, le=65535)
    timezone: str = F("Asia/Shanghai", title="Time zone", description="Local time zone for schedules and the UI.")
    metrics_token: SecretStr | None = F(None, title="Metrics token", description=(
        "Bearer token Prometheus presents for /metrics (at least 24 characters; an admin's login or API token works "
        "too). Unset: /metrics answers only admins."), min_length=24)
    session_hours: float = F(12, title="Session hours", description="How long a browser login lasts.", gt=0, le=720)
    secure_cookies: bool = F(False, title="Secure cookies", description=(
        "Mark the session cookie Secure (browser sends it over HTTPS only). Turn on behind a TLS proxy."))
    allowed_origins: list[str] = F(default_factory=list, title="Allowed origins", description=(
        "Further origins (scheme://host:port) whose cookie-authenticated writes are accepted, besides the API's own."))


class VigilConfig(Strict):
    institutions: list[Institution] = F(title="Institutions", description="Institutions under supervision.", min_length=1)
    cameras: list[Camera] = F(default_factory=list, title="Cameras", description="Cameras and their zones and rules.")
    detector: DetectorConfig = F(default_factory=DetectorConfig, title="Detector", description="Object detector settings.")
    storage: StorageConfig = F(default_factory=StorageConfig, title="Storage", description="Database and media.")
    server: ServerConfig = F(default_factory=ServerConfig, title="Server", description="HTTP API.")
    notifications: NotificationsConfig = F(default_factory=NotificationsConfig, title="Notifications", description="Webhooks, MQTT and the event stream (transactional outbox).")
    hazards: HazardsConfig = F(default_factory=HazardsConfig, title="Hazards", description="The hazard ledger: deadlines, escalation, the camera re-check, uploads, complaints.")
    live: LiveConfig = F(default_factory=LiveConfig, title="Live view", description="WebRTC relay of the camera's own H.264, viewer caps, ICE addresses, the MJPEG fallback.")
    cluster: ClusterConfig = F(default_factory=ClusterConfig, title="Cluster", description="Cameras spread over a Ray cluster with failover (issue #19); absent: one box.")

    @model_validator(mode="after")
    def _refs(self) -> "VigilConfig":
        ids = [i.id for i in self.institutions]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"institution ids must be unique, repeated: {sorted(dup)}")
        cids = [c.id for c in self.cameras]
        dup = {i for i in cids if cids.count(i) > 1}
        if dup:
            raise ValueError(f"camera ids must be unique, repeated: {sorted(dup)}")
        for i, c in enumerate(self.cameras):
            if c.institution not in ids:
                raise ValueError(f"cameras[{i}].institution: unknown institution '{c.institution}' (known: {', '.join(ids)})")
        return self

    def camera(self, camera_id: str) -> Camera:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)


class ConfigError(Exception):
    """Invalid configuration; `errors` holds one 'path: reason' line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source, self.errors = source, errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in RULE_TYPES or str(part).startswith("function-"):
            continue  # discriminator tag of the rule union
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for e in exc.errors():
        msg = e["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif e["type"] == "union_tag_invalid":
            msg = f"unknown rule type {e.get('input', {}).get('type')!r}; expected one of {', '.join(RULE_TYPES)}" if isinstance(e.get("input"), dict) else msg
        elif e["type"] == "missing":
            msg = "required field is missing"
        path = _format_loc(tuple(e["loc"]))
        # model validators name the sub-path they complain about ("zones[0].rules[1]: ...")
        m = re.match(r"^([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (.+)$", msg, re.S)
        if m and ("[" in m.group(1) or "." in m.group(1)):
            path = m.group(1) if path == "(root)" else f"{path}.{m.group(1)}"
            msg = m.group(2)
        lines.append(f"{path}: {msg}")
    return lines


def parse_config(data: Any, source: str = "<config>") -> VigilConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(root): the file must hold a mapping with at least 'institutions'"])
    try:
        return VigilConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_errors(exc)) from None


def load_config(path: str | Path) -> VigilConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"(file): not a YAML config: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                      f"at offset {exc.start})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    cfg = parse_config(data, str(path))
    # relative file camera paths are relative to the config file
    for cam in cfg.cameras:
        if urlsplit(cam.url).scheme in ("",) and not Path(cam.url).is_absolute():
            cam.url = str((path.parent / cam.url).resolve())
    return cfg


def redact_url(url: str) -> str:
    """Replace the password (and user) of a URL by '***' so it can be shown or logged."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return parts._replace(netloc=netloc).geturl()


def parse_hhmm(v: str) -> dtime:
    h, m = v.split(":")
    return dtime(23, 59, 59) if int(h) == 24 else dtime(int(h), int(m))
