"""Request bodies of accounts, sessions, API keys and caller links, validated at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["admin", "dispatcher", "hospital", "viewer", "crew"]
KeyRole = Literal["admin", "dispatcher", "hospital", "viewer"]  # a crew signs in, it has no key
Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
Password = Field(min_length=10, max_length=1024, description="At least 10 characters.")


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "lan.dispatch", "password": "correct horse battery"}]},
    )

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "bvdn.ed",
                    "display_name": "Khoa Cấp cứu BV Đà Nẵng",
                    "password": "a long passphrase",
                    "role": "hospital",
                    "hospital_id": 1,
                }
            ]
        },
    )

    username: str = Username
    display_name: str | None = Field(None, min_length=1, max_length=200, description="default: the username")
    password: str = Password
    role: Role
    hospital_id: int | None = Field(None, description="required for (and only for) the hospital role")
    vehicle_id: int | None = Field(None, description="required for (and only for) the crew role")

    @model_validator(mode="after")
    def _hospital_iff_hospital_role(self) -> UserCreate:
        if (self.role == "hospital") != (self.hospital_id is not None):
            raise ValueError("hospital_id is required for the hospital role, and only for it")
        if (self.role == "crew") != (self.vehicle_id is not None):
            raise ValueError("vehicle_id is required for the crew role, and only for it")
        return self


class UserUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"disabled": True},
                {"role": "hospital", "hospital_id": 2},
                {"password": "a new long passphrase"},
            ]
        },
    )

    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    hospital_id: int | None = None
    vehicle_id: int | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=10, max_length=1024, description="a password reset")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "BV Đà Nẵng ED board", "role": "hospital", "hospital_id": 1},
                {"name": "CAD integration", "role": "dispatcher", "expires_at": "2027-01-01T00:00:00Z"},
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200, description="who or what the key is for")
    role: KeyRole
    hospital_id: int | None = Field(None, description="required for (and only for) the hospital role")
    expires_at: datetime | None = Field(None, description="ISO 8601 with an offset; default: never")

    @model_validator(mode="after")
    def _checks(self) -> ApiKeyCreate:
        if (self.role == "hospital") != (self.hospital_id is not None):
            raise ValueError("hospital_id is required for the hospital role, and only for it")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs an offset, e.g. 2027-01-01T00:00:00Z")
        return self
