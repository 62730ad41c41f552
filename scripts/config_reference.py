"""Print the configuration reference (Markdown) from the pydantic models, for the README."""
from __future__ import annotations

from typing import get_args

from pydantic import BaseModel

from vigil.config import (BlockedExitRule, Camera, DetectorConfig, EbikeIndoorRule, FireSmokeRule, Institution, Schedule,
                          ScheduleWindow, ServerConfig, StorageConfig, UnattendedRoomRule, VigilConfig, Zone)

SECTIONS = [("top level", VigilConfig), ("institutions[]", Institution), ("cameras[]", Camera), ("cameras[].zones[]", Zone),
            ("rule: blocked_exit", BlockedExitRule), ("rule: unattended_room", UnattendedRoomRule),
            ("rule: ebike_indoor", EbikeIndoorRule), ("rule: fire_smoke", FireSmokeRule), ("schedule", Schedule),
            ("schedule.windows[]", ScheduleWindow), ("detector", DetectorConfig), ("storage", StorageConfig), ("server", ServerConfig)]


def default_of(f) -> str:
    if f.is_required():
        return "required"
    d = f.get_default(call_default_factory=True)
    if isinstance(d, BaseModel):
        return "(section)"
    if isinstance(d, list) and len(d) > 4:
        return f"{len(d)} items"
    return f"`{d!r}`" if d is not None else "null"


def main() -> None:
    for title, model in SECTIONS:
        print(f"\n**{title}**\n\n| key | default | meaning |\n|---|---|---|")
        for name, f in model.model_fields.items():
            desc = (f.description or "").replace("|", "\\|")
            print(f"| `{name}` | {default_of(f)} | {f.title}: {desc} |")


if __name__ == "__main__":
    main()
