"""The configuration reference (Markdown), generated from the pydantic models.

`vigil config reference` prints it; `--write README.md` replaces the block between the markers below
in the README (a test checks that the README is in sync)."""
from __future__ import annotations

from pydantic import BaseModel

from vigil.outbox.config import Filters, MqttConfig, NotificationsConfig, Retry, SpoolConfig, WebhookConfig

from vigil.config import Camera, ClipsConfig, DetectorConfig, RetentionConfig, Institution, ServerConfig, StorageConfig, VigilConfig, Zone
from vigil.rules_config import AlertPeriod, BlockedExitRule, EbikeIndoorRule, FireSmokeRule, GateRule, Schedule, ScheduleWindow, UnattendedRoomRule

from vigil.cluster.config import ClusterConfig  # noqa: E402
from vigil.live_config import LiveConfig  # noqa: E402

SECTIONS = [("top level", VigilConfig), ("institutions[]", Institution), ("cameras[]", Camera), ("cameras[].zones[]", Zone),
            ("rule: blocked_exit", BlockedExitRule), ("rule: unattended_room", UnattendedRoomRule),
            ("rule: ebike_indoor", EbikeIndoorRule), ("rule: fire_smoke", FireSmokeRule), ("rule: gate", GateRule),
            ("schedule", Schedule),
            ("schedule.windows[]", ScheduleWindow), ("schedule.alert_periods[]", AlertPeriod), ("detector", DetectorConfig), ("storage", StorageConfig),
            ("storage.clips", ClipsConfig), ("storage.retention", RetentionConfig), ("storage.spool", SpoolConfig),
            ("server", ServerConfig), ("notifications", NotificationsConfig), ("notifications.webhooks[]", WebhookConfig),
            ("notifications.mqtt", MqttConfig), ("notifications ... filters", Filters), ("notifications ... retry", Retry),
            ("live", LiveConfig), ("cluster", ClusterConfig)]


def default_of(f) -> str:
    if f.is_required():
        return "required"
    d = f.get_default(call_default_factory=True)
    if isinstance(d, BaseModel):
        return "(section)"
    if isinstance(d, list) and len(d) > 4:
        return f"{len(d)} items"
    return f"`{d!r}`" if d is not None else "null"


BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def render() -> str:
    out: list[str] = []
    for title, model in SECTIONS:
        out.append(f"\n**{title}**\n\n| key | default | meaning |\n|---|---|---|")
        for name, f in model.model_fields.items():
            desc = (f.description or "").replace("|", "\\|")
            out.append(f"| `{name}` | {default_of(f)} | {f.title}: {desc} |")
    return "\n".join(out).strip() + "\n"


def readme_block(text: str) -> str | None:
    """The reference as it stands in a README text (None when the markers are missing)."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"


def write_into(text: str) -> str:
    """`text` with the block between the markers replaced by the current reference."""
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{BEGIN}\n{render()}{END}{tail}"
