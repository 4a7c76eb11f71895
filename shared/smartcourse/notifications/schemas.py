"""Request and response models of the notification routes (validation and the OpenAPI document)."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from smartcourse.cursor import CURSOR_PATTERN
from smartcourse.notifications.domain import CATALOGUE, Cadence, Channel
from smartcourse.partial import check_partial, partial_schema

TypeName = Literal["enrollment_confirmed", "course_updated", "certificate_issued", "certificate_revoked",
                   "enrollment_milestone", "asset_failed"]
#: "HH:MM", 24-hour clock, in the user's time zone
ClockTime = Annotated[str, Field(min_length=5, max_length=5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                 examples=["22:00"])]


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA time zones this runtime knows (the document lists them: any other is 400)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def _time_zone_schema(schema: dict[str, Any]) -> None:
    schema["enum"] = list(time_zones())


def _known_time_zone(value: str) -> str:
    if value not in time_zones():
        raise ValueError("is not an IANA time zone this service knows (e.g. Europe/Paris)")
    return value


TimeZone = Annotated[str, Field(description="An IANA time zone, e.g. Europe/Paris",
                                json_schema_extra=_time_zone_schema), AfterValidator(_known_time_zone)]


class _Model(BaseModel):
    """Every model of this module: its validator is built when first used, not at import (the
    functions that import this module serve few of its models per cold start; issue 19)."""

    model_config = ConfigDict(defer_build=True)


class Request(_Model):
    model_config = ConfigDict(extra="forbid")


class InboxQuery(Request):
    unread: bool = Field(default=False, description="true lists only unread notifications")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=32, max_length=32, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class Notification(_Model):
    id: uuid.UUID
    type: TypeName
    title: str
    body: str
    link: str | None = Field(description="where it leads: an app route (#/...) or a public URL")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(_Model):
    items: list[Notification]
    unread_count: int = Field(ge=0)
    next_cursor: str | None


class ReadAllResult(_Model):
    updated: int = Field(ge=0, description="notifications marked read by this call")
    unread_count: int = Field(ge=0)


class QuietHours(_Model):
    model_config = ConfigDict(extra="forbid")
    start: ClockTime
    end: ClockTime


class ChannelState(_Model):
    enabled: bool
    cadence: Cadence
    locked: bool = Field(description="true: the channel cannot be changed for this type")


class TypeChannels(_Model):
    in_app: ChannelState | None = None
    email: ChannelState | None = None
    sms: ChannelState | None = None


class TypePreferences(_Model):
    type: TypeName
    label: str
    description: str
    channels: TypeChannels = Field(description="the channels the type offers (a missing one is not offered)")


class Preferences(_Model):
    timezone: str
    quiet_hours: QuietHours | None = Field(description="email and SMS wait until it ends (in timezone)")
    phone_verified: bool = Field(default=False, description="the account has a verified phone number: only then "
                                 "can SMS be turned on, and only then is anything texted")
    types: list[TypePreferences]


class CadenceChange(_Model):
    model_config = ConfigDict(extra="forbid")
    cadence: Cadence


class ChannelChanges(_Model):
    NOT_NULLABLE: ClassVar[tuple[Channel, ...]] = ("in_app", "email", "sms")
    model_config = ConfigDict(extra="forbid", json_schema_extra=partial_schema(*NOT_NULLABLE))
    in_app: CadenceChange | None = None
    email: CadenceChange | None = None
    sms: CadenceChange | None = None

    @model_validator(mode="after")
    def _partial(self) -> ChannelChanges:
        check_partial(self, self.NOT_NULLABLE)
        return self

    def given(self) -> dict[Channel, Cadence]:
        return {name: getattr(self, name).cadence for name in self.NOT_NULLABLE if name in self.model_fields_set}


class TypeChange(_Model):
    model_config = ConfigDict(extra="forbid")
    type: TypeName
    channels: ChannelChanges


class PreferencesUpdate(_Model):
    """Only what is given changes; `quiet_hours: null` turns quiet hours off."""

    NOT_NULLABLE: ClassVar = ("timezone", "types")
    model_config = ConfigDict(extra="forbid", json_schema_extra=partial_schema(*NOT_NULLABLE))
    timezone: TimeZone | None = None
    quiet_hours: QuietHours | None = None
    types: list[TypeChange] | None = Field(default=None, max_length=len(CATALOGUE))

    @model_validator(mode="after")
    def _partial(self) -> PreferencesUpdate:
        check_partial(self, self.NOT_NULLABLE)
        return self


assert set(TypeName.__args__) == set(CATALOGUE), "TypeName must list the catalogue"  # type: ignore[attr-defined]


class OneClick(_Model):
    """RFC 8058: the body a mail client POSTs to the List-Unsubscribe URL (form-encoded)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    list_unsubscribe: Literal["One-Click"] = Field(alias="List-Unsubscribe")
