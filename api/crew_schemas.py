"""Request bodies of the crew's tablet, validated at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

CrewStatus = Literal["en_route", "on_scene", "transporting", "at_hospital", "returning", "completed"]
DestinationReason = Literal[
    "patient_condition", "hospital_full", "specialty_needed", "closer_hospital", "family_request", "other"
]


class CrewStatusPress(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "journey_id": 42,
                    "status": "on_scene",
                    "at": "2026-12-05T02:04:10.250Z",
                    "queued": True,
                    "press_id": "8f1c0f4e-5d7a-4c1e-9a53-2b9f3f5e8c11",
                }
            ]
        },
    )

    journey_id: int = Field(description="the journey the button was pressed for")
    status: CrewStatus = Field(description="`completed` is the tablet's 'available' button")
    at: datetime = Field(description="when it was pressed, by the tablet's clock (ISO 8601 with an offset)")
    queued: bool = Field(False, description="pressed while offline, sent when the connection came back")
    press_id: UUID = Field(description="the tablet's id for this press: a resend is stored once")

    @field_validator("at")
    @classmethod
    def _offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("at needs an offset, e.g. 2026-12-05T02:04:10Z")
        return value


class CrewDestination(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"journey_id": 42, "hospital_id": 3, "reason": "hospital_full"}]},
    )

    journey_id: int
    hospital_id: int
    reason: DestinationReason
    note: str | None = Field(None, max_length=300)


class CrewCodeRedeem(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "Zr8k...43"}]})

    code: str = Field(min_length=1, max_length=100)
