"""Request and response models of the hazard ledger (issue #16)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.api.schemas import ID_PATTERN, MAX_ID, TEXT_PATTERN, UtcDateTime

Category = Literal["blocked_passage", "open_flame", "ebike_indoor", "control_room_unstaffed", "monitoring_fault",
                   "fire_equipment", "electrical", "other"]
Severity = Literal["major", "general"]
State = Literal["open", "rectifying", "submitted", "verified", "closed"]
StepName = Literal["start", "submit", "reject", "verify", "close", "reopen"]
RecheckStatus = Literal["pending", "clear", "still_present", "unavailable"]
PhotoKind = Literal["before", "after", "inspection"]
SHORT = dict(max_length=200, pattern=TEXT_PATTERN)
NONBLANK = r"^[ \t\r\n]*[^ \t\r\n\x00][^\x00]*$"  # something besides blanks, no NUL
LONG = dict(max_length=4000, pattern=TEXT_PATTERN)


class HazardIn(BaseModel):
    """A hazard entered by hand (an on-site inspection)."""
    model_config = ConfigDict(extra="forbid")
    institution_id: str = Field(pattern=ID_PATTERN, title="Institution", description="Where the hazard is.")
    category: Category = Field(title="Category", description="The risk factor.")
    severity: Severity | None = Field(None, title="Severity", description="major or general; default: the policy's.")
    title: str = Field(min_length=1, max_length=200, pattern=NONBLANK, title="Title", description="One line: what and where.")
    description: str | None = Field(None, title="Description", description="What was found.", **LONG)
    location: str | None = Field(None, title="Location", description="Where in the institution.", **SHORT)
    responsible: str | None = Field(None, title="Responsible", description="Who must fix it.", max_length=80,
                                    pattern=TEXT_PATTERN)
    deadline_at: UtcDateTime | None = Field(None, title="Deadline", description="Default: from the deadline policy.")


class HazardPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    responsible: str | None = Field(None, title="Responsible", description="Who must fix it.", max_length=80,
                                    pattern=TEXT_PATTERN)
    severity: Severity | None = Field(None, title="Severity", description="Changing it moves the deadline by the "
                                      "policy unless deadline_at is given.")
    deadline_at: UtcDateTime | None = Field(None, title="Deadline", description="A new deadline.")
    note: str | None = Field(None, title="Note", description="Why.", **LONG)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: StepName = Field(title="Step", description="start, submit, reject, verify, close or reopen.")
    note: str | None = Field(None, title="Note", description="Required for reject and reopen, and with override.",
                             **LONG)
    override: bool = Field(False, title="Override", description=(
        "Verify although the camera re-check still sees the hazard (or is still running); needs a note."))


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000, pattern=NONBLANK, title="Text", description="The comment.")


class SuperviseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, title="Note", description="Why it is listed for supervision.", **LONG)


class PhotoOut(BaseModel):
    id: int
    kind: str
    content_type: str
    size: int
    uploaded_by: str | None
    uploaded_at: datetime
    url: str


class HistoryOut(BaseModel):
    at: datetime
    username: str | None
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict | None


class HazardOut(BaseModel):
    id: int = Field(ge=1, le=MAX_ID)
    institution_id: str
    institution_name: str | None
    region: str | None
    camera_id: str | None
    zone: str | None
    rule: str | None
    category: str
    category_name: str
    severity: str
    source: str
    title: str
    description: str | None
    location: str | None
    state: State
    responsible: str | None
    opened_at: datetime
    opened_by: str | None
    deadline_at: datetime
    overdue: bool
    last_seen_at: datetime | None
    sightings: int
    submitted_at: datetime | None
    verified_at: datetime | None
    verified_by: str | None
    closed_at: datetime | None
    reopened: int
    recheck_status: RecheckStatus | None
    recheck_at: datetime | None
    recheck_detail: dict | None
    escalation_level: int
    supervised: bool
    supervised_region: str | None
    supervisor: str | None
    complaint_id: int | None
    steps: list[StepName] = Field(description="The steps the caller may take now.")


class HazardDetail(HazardOut):
    history: list[HistoryOut]
    photos: list[PhotoOut]
    event_ids: list[int] = Field(description="The confirmed events seen as sightings of this hazard.")


class HazardPage(BaseModel):
    total: int
    items: list[HazardOut]
