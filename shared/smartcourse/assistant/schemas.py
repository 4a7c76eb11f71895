"""The assistant's HTTP contract: request bodies (validated by AssistantFunction's router) and the
response shapes, as pydantic models. The API function's /openapi.json documents the assistant's
operations from these models, so this module imports pydantic and nothing heavy (no numpy, no
model runtime): the API must not load the embedding runtime to describe them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from smartcourse.strings import NON_BLANK_LINE_PATTERN, NON_BLANK_TEXT_PATTERN, TEXT_PATTERN, check_text

#: Limits of the request models (the service applies MAX_QUESTION_CHARS too, after collapsing
#: white space, for callers that do not go through the model).
MAX_QUESTION_CHARS = 1000
MAX_SEARCH_CHARS = 500
MAX_COMMENT_CHARS = 2000

Reason = Literal["not_covered", "indexing", "not_published", "unsupported_answer"]
State = Literal["live", "indexing", "not_indexed"]


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                                   description="The learner's question (not only white space)",
                                   json_schema_extra={"pattern": NON_BLANK_TEXT_PATTERN}),
                        AfterValidator(check_text)]
    conversation_id: uuid.UUID | None = Field(default=None, description="Continue this conversation")


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: StrictBool
    comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS, json_schema_extra={"pattern": TEXT_PATTERN}),
                       AfterValidator(check_text)] | None = None


class SearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_SEARCH_CHARS, description="What to look for in the course",
                   json_schema_extra={"pattern": NON_BLANK_LINE_PATTERN})
    limit: int = Field(default=10, ge=1, le=50, description="Pages to list (each page once)")


class Citation(BaseModel):
    n: int = Field(ge=1, description="The [n] marker in the answer")
    asset_id: uuid.UUID
    lesson_id: uuid.UUID | None
    title: str
    location: dict[str, Any] = Field(description="Where in the document: page, heading path, slide, time...")
    snippet: str
    score: float = Field(ge=0, le=1)


class Answer(BaseModel):
    answer: str
    citations: list[Citation]
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    model: str = Field(description="groq:<model> or extractive")
    refused: bool
    reason: Reason | None = Field(description="Why it was refused; null when answered")


class DocumentCounts(BaseModel):
    ready: int = Field(ge=0)
    processing: int = Field(ge=0)
    failed: int = Field(ge=0)


class AssistantStatus(BaseModel):
    live_version: int | None = Field(description="The course version the assistant answers from")
    latest_version: int | None = Field(description="The latest published version")
    state: State
    documents: DocumentCounts


class MessageFeedback(BaseModel):
    helpful: bool
    comment: str | None


class Message(BaseModel):
    message_id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    refused: bool
    reason: Reason | None
    model: str | None
    citations: list[Citation]
    created_at: datetime
    feedback: MessageFeedback | None


class Conversation(BaseModel):
    conversation_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    title: str = Field(description="The first question, shortened")
    created_at: datetime
    updated_at: datetime
    messages: list[Message]


class FeedbackResult(BaseModel):
    message_id: uuid.UUID
    helpful: bool
    comment: str | None
    updated_at: datetime


class SearchItem(BaseModel):
    asset_id: uuid.UUID
    lesson_id: uuid.UUID | None
    title: str
    location: dict[str, Any]
    snippet: str
    score: float = Field(ge=0, le=1)


class SearchResults(BaseModel):
    items: list[SearchItem]
    state: State


#: (method, path, summary, request body, query, response): what /openapi.json says of each route.
OPERATIONS: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, type[BaseModel]]] = [
    ("POST", "/courses/{course_id}/assistant/ask",
     "Ask the course assistant (answers cite the course material, or refuse with a reason)", AskBody, None, Answer),
    ("GET", "/courses/{course_id}/assistant/status",
     "What the assistant can answer from now: live and latest version, documents indexed", None, None,
     AssistantStatus),
    ("GET", "/courses/{course_id}/assistant/conversations/{conversation_id}",
     "A conversation with the assistant, its messages, citations and feedback", None, None, Conversation),
    ("POST", "/courses/{course_id}/assistant/conversations/{conversation_id}/messages/{message_id}/feedback",
     "Rate one of the assistant's answers (one rating per user and answer; sending again replaces it)",
     FeedbackBody, None, FeedbackResult),
    ("GET", "/courses/{course_id}/search", "Search the course's live material (each page once, best first)",
     None, SearchQuery, SearchResults),
]
#: Statuses an operation answers besides the common ones (400/401/403/404/409, 429, 503):
#: ask answers 422 `rule_violated` when its `conversation_id` names no conversation of the caller
#: in this course (the course itself exists, so not a 404).
EXTRA_ERRORS: dict[tuple[str, str], tuple[str, ...]] = {("POST", "/courses/{course_id}/assistant/ask"): ("422",)}
