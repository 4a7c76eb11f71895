"""The analytics HTTP contract (AnalyticsFunction's routes) as pydantic models. The API function's
/openapi.json documents these operations from here, so this module imports pydantic and nothing
heavy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartcourse.analytics.domain import CURSOR_PATTERN, Sort


class LearnersQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cursor: str | None = Field(default=None, max_length=32, description="next_cursor of the previous page",
                               json_schema_extra={"pattern": CURSOR_PATTERN})
    sort: Sort = Field(default="-enrolled_at", description="The order: a field, descending with a leading '-'")
    limit: int | None = Field(default=None, ge=1, le=200, description="Rows per page (50 when not given)")


class AtRiskQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cursor: str | None = Field(default=None, max_length=32, description="next_cursor of the previous page",
                               json_schema_extra={"pattern": CURSOR_PATTERN})
    limit: int | None = Field(default=None, ge=1, le=200, description="Learners per page (50 when not given)")


class Overview(BaseModel):
    enrolled: int = Field(ge=0, description="Live enrolments (active or completed)")
    active_7d: int = Field(ge=0, description="Of them, active (a minute on a lesson, a completion) in the last 7 days")
    completed: int = Field(ge=0)
    completion_rate: float = Field(ge=0, le=1, description="completed / enrolled, 0 when nobody is enrolled")
    median_days_to_complete: float | None = Field(description="Median of completed_at - enrolled_at, in days")
    as_of: datetime = Field(description="When the rollups of this course last changed (every event processed by then "
                                        "is counted)")


class AdminOverview(Overview):
    courses: int = Field(ge=0, description="Published courses")
    learners: int = Field(ge=0, description="People with at least one live enrolment (each counted once)")
    minutes_7d: int = Field(ge=0, description="Minutes on task in the last 7 days, all courses")


class LessonFunnelItem(BaseModel):
    lesson_id: uuid.UUID
    title: str
    started: int = Field(ge=0, description="Learners with a minute on the lesson or its completion")
    completed: int = Field(ge=0)
    drop_off_rate: float | None = Field(description="(started - completed) / started; null when nobody started")
    median_minutes: float | None = Field(description="Median minutes on task of the learners who spent any")
    questions_asked: int | None = Field(description="Learners' questions to the assistant whose best retrieved "
                                                    "passage is in this lesson (refusals for lack of coverage are "
                                                    "content gaps, counted in no lesson)")


class LessonFunnel(BaseModel):
    items: list[LessonFunnelItem]


class LearnerRow(BaseModel):
    learner_id: uuid.UUID = Field(description="The learner's pseudonymous analytics id")
    name: str | None = Field(description="The account's name, read when asked; null once the account is deleted")
    enrolled_at: datetime
    percent: int = Field(ge=0, le=100)
    completed_at: datetime | None
    last_active_at: datetime


class LearnersPage(BaseModel):
    items: list[LearnerRow]
    next_cursor: str | None


class RiskReason(BaseModel):
    rule: Literal["inactive", "behind_pace"]
    detail: str


class AtRiskLearner(BaseModel):
    learner_id: uuid.UUID
    name: str | None
    percent: int = Field(ge=0, le=100)
    days_inactive: int = Field(ge=0)
    reasons: list[RiskReason] = Field(min_length=1)


class AtRisk(BaseModel):
    items: list[AtRiskLearner] = Field(description="Most inactive first (the longest since last active)")
    next_cursor: str | None


class GapLesson(BaseModel):
    lesson_id: uuid.UUID
    title: str


class ContentGap(BaseModel):
    id: uuid.UUID
    label: str = Field(description="The cluster's most central question, scrubbed of e-mail addresses, links, "
                                   "handles and long numbers")
    questions: int = Field(ge=1, description="Questions in the cluster")
    learners: int = Field(ge=3, description="Distinct learners who asked (clusters of fewer are not shown)")
    examples: list[str] = Field(description="Up to 3 questions as asked (scrubbed); never who asked")
    nearest_lessons: list[GapLesson] = Field(description="The lessons of the passages these questions retrieved "
                                                         "(for a covered gap, the covering lesson first)")
    status: Literal["open", "covered"] = Field(description="covered: re-asked when a newer version went live, "
                                                           "that version's material answers it")
    covered_version: int | None = Field(description="The version whose material covers it")
    covered_at: datetime | None = Field(description="When that version went live and the gap was re-asked")
    first_asked_at: datetime
    last_asked_at: datetime


class ContentGaps(BaseModel):
    items: list[ContentGap]


class Heartbeat(BaseModel):
    counted: bool = Field(description="False when this minute was already counted (another tab, a retry)")
    minute: datetime


class XapiQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    since: datetime | None = Field(default=None, description="Statements with a timestamp at or after this time")
    until: datetime | None = Field(default=None, description="Statements with a timestamp before this time")
    cursor: str | None = Field(default=None, max_length=32, description="next_cursor of the previous page",
                               json_schema_extra={"pattern": r"^[A-Za-z0-9_-]{32}$"})
    limit: int | None = Field(default=None, ge=1, le=500, description="Statements per page (100 when not given)")


class XapiPage(BaseModel):
    statements: list[dict[str, Any]] = Field(description=(
        "xAPI 1.0.3 statements, oldest first on (timestamp, id): id (UUID v5 of the event: the same in every "
        "export), actor {objectType: Agent, account: {homePage, name: the pseudonymous learner id}}, verb "
        "(registered, progressed, completed, earned; voided for a revoked certificate's earned; asked for a "
        "learner's question to the course assistant, without its text), object (the course or lesson Activity, "
        "or a StatementRef), timestamp, version, result (completion, the cmi5 progress extension)"))
    next_cursor: str | None


OVERVIEW = "/courses/{course_id}/analytics/overview"
LESSONS = "/courses/{course_id}/analytics/lessons"
LEARNERS = "/courses/{course_id}/analytics/learners"
AT_RISK = "/courses/{course_id}/analytics/at-risk"
CONTENT_GAPS = "/courses/{course_id}/analytics/content-gaps"
ADMIN_OVERVIEW = "/admin/analytics/overview"
XAPI = "/courses/{course_id}/analytics/xapi"
HEARTBEAT = "/courses/{course_id}/lessons/{lesson_id}/heartbeat"

#: (method, path, summary, request body, query, response): what /openapi.json says of each route.
OPERATIONS: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, type[BaseModel]]] = [
    ("GET", OVERVIEW, "A course's figures: enrolled, active in 7 days, completed, median days to complete "
                      "(its instructor and admins)", None, None, Overview),
    ("GET", LESSONS, "The lesson funnel in course order: started, completed, drop-off, median minutes "
                     "(its instructor and admins)", None, None, LessonFunnel),
    ("GET", LEARNERS, "The course's learners with progress and activity (its instructor and admins)", None,
     LearnersQuery, LearnersPage),
    ("GET", AT_RISK, "Learners who started, have not completed, and are inactive 7 days or behind the median pace, "
                     "each with its reasons, most inactive first, a page at a time (its instructor and admins)",
     None, AtRiskQuery, AtRisk),
    ("GET", CONTENT_GAPS, "Questions the assistant could not answer from the course or answered with weak "
                          "support, clustered by meaning, asked by at least 3 learners, most learners first; "
                          "open or covered by a newer version (its instructor and admins)", None, None, ContentGaps),
    ("GET", ADMIN_OVERVIEW, "Platform totals (admins)", None, None, AdminOverview),
    ("GET", XAPI, "The course's learning events as xAPI 1.0.3 statements for an external LRS, pseudonymous actors "
                  "(its instructor and admins)", None, XapiQuery, XapiPage),
    ("POST", HEARTBEAT, "Time on task: the web client calls this once a minute while the lesson is visible and "
                        "focused (an enrolled learner; one minute counted per learner and minute)", None, None,
     Heartbeat),
]
#: Statuses an operation answers besides the common ones (400/401/403/404/409).
EXTRA_ERRORS: dict[tuple[str, str], tuple[str, ...]] = {}
