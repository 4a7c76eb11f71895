"""The Postgres adapter of the LMS: every SQL statement of lms.* lives here (parameterised).

A repository wraps one connection inside the caller's transaction (the unit of work): the state
change and its outbox rows commit together or not at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from smartcourse.events import EventEnvelope
from smartcourse.lms.domain import Asset, Course, Enrollment, Lesson, LessonProgress, Module, User
from smartcourse.outbox import write_event
from smartcourse.readonly.ai_index import IndexStatus, asset_statuses

#: Rows of the tables without an entity (course versions, idempotency keys); everything else comes
#: back as the domain's entities.
Row = dict[str, Any]

COURSE_COLS = ("id, instructor_id, title, description, status, published_version, capacity, enroll_opens_at, "
               "enroll_closes_at, created_at, updated_at")
ENROLLMENT_COLS = "id, user_id, course_id, course_version, status, enrolled_at, completed_at, cancelled_at"


class PgRepository:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def _one(self, query: str | sql.Composed, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row | None:
        row = self.conn.execute(query, params).fetchone()
        return dict(row) if row is not None else None

    def _all(self, query: str | sql.Composed, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        return [dict(r) for r in self.conn.execute(query, params).fetchall()]

    # --- events ------------------------------------------------------------------------------------
    def add_event(self, event: EventEnvelope) -> None:
        write_event(self.conn, event)

    # --- users -------------------------------------------------------------------------------------
    def insert_user(self, email: str, password_hash: str, name: str, role: str) -> User | None:
        """The new user, or None when the email is taken."""
        row = self._one(
            "INSERT INTO lms.users (id, email, password_hash, name, role) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (email) DO NOTHING RETURNING id, email, name, role, created_at, email_verified_at",
            (uuid.uuid4(), email, password_hash, name, role))
        return User(**row) if row else None

    def user_by_id(self, user_id: uuid.UUID) -> User | None:
        row = self._one("SELECT id, email, name, role, created_at, email_verified_at, phone, phone_verified_at "
                        "FROM lms.users WHERE id = %s", (user_id,))
        return User(**row) if row else None

    # --- courses -----------------------------------------------------------------------------------
    def insert_course(self, instructor_id: uuid.UUID, fields: dict[str, Any]) -> Course:
        row = self._one(
            f"INSERT INTO lms.courses (id, instructor_id, title, description, capacity, enroll_opens_at, "
            f"enroll_closes_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COURSE_COLS}",
            (uuid.uuid4(), instructor_id, fields["title"], fields.get("description") or "", fields.get("capacity"),
             fields.get("enroll_opens_at"), fields.get("enroll_closes_at")))
        assert row is not None
        return Course(**row)

    def get_course(self, course_id: uuid.UUID, *, lock: bool = False) -> Course | None:
        suffix = " FOR UPDATE" if lock else ""
        row = self._one(f"SELECT {COURSE_COLS} FROM lms.courses WHERE id = %s{suffix}", (course_id,))
        return Course(**row) if row else None

    def update_course(self, course_id: uuid.UUID, changes: dict[str, Any]) -> Course:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes)
        query = sql.SQL("UPDATE lms.courses SET {}, updated_at = now() WHERE id = {} RETURNING {}").format(
            assignments, sql.Placeholder("_id"), sql.SQL(COURSE_COLS))
        row = self._one(query, {**changes, "_id": course_id})
        assert row is not None
        return Course(**row)

    def list_courses(self, *, viewer_id: uuid.UUID, is_admin: bool, status: str | None, instructor_id: uuid.UUID | None,
                     q: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Course]:
        clauses: list[sql.Composable] = []
        params: dict[str, Any] = {"viewer": viewer_id, "limit": limit}
        if not is_admin:
            clauses.append(sql.SQL("(status = 'published' OR instructor_id = %(viewer)s)"))
        if status is not None:
            clauses.append(sql.SQL("status = %(status)s"))
            params["status"] = status
        if instructor_id is not None:
            clauses.append(sql.SQL("instructor_id = %(instructor)s"))
            params["instructor"] = instructor_id
        if q is not None:
            clauses.append(sql.SQL("title ILIKE %(q)s"))
            params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if after is not None:
            clauses.append(sql.SQL("(created_at, id) < (%(after_ts)s, %(after_id)s)"))
            params["after_ts"], params["after_id"] = after
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
        query = sql.SQL("SELECT {} FROM lms.courses{} ORDER BY created_at DESC, id DESC LIMIT %(limit)s").format(
            sql.SQL(COURSE_COLS), where)
        return [Course(**r) for r in self._all(query, params)]

    # --- versions ----------------------------------------------------------------------------------
    def insert_version(self, course_id: uuid.UUID, version: int, snapshot: dict[str, Any],
                       published_by: uuid.UUID) -> Row:
        row = self._one(
            "INSERT INTO lms.course_versions (course_id, version, snapshot, published_by) VALUES (%s, %s, %s, %s) "
            "RETURNING course_id, version, published_at", (course_id, version, Jsonb(snapshot), published_by))
        assert row is not None
        return row

    def get_snapshot(self, course_id: uuid.UUID, version: int) -> dict[str, Any] | None:
        row = self._one("SELECT snapshot FROM lms.course_versions WHERE course_id = %s AND version = %s",
                        (course_id, version))
        return row["snapshot"] if row else None

    # --- modules and lessons (the draft) -----------------------------------------------------------
    def list_modules(self, course_id: uuid.UUID) -> list[Module]:
        return [Module(**r) for r in self._all("SELECT id, course_id, title, position FROM lms.modules "
                                               "WHERE course_id = %s ORDER BY position, id", (course_id,))]

    def get_module(self, course_id: uuid.UUID, module_id: uuid.UUID) -> Module | None:
        row = self._one("SELECT id, course_id, title, position FROM lms.modules WHERE id = %s AND course_id = %s",
                        (module_id, course_id))
        return Module(**row) if row else None

    def insert_module(self, course_id: uuid.UUID, title: str, position: int) -> Module:
        row = self._one("INSERT INTO lms.modules (id, course_id, title, position) VALUES (%s, %s, %s, %s) "
                        "RETURNING id, course_id, title, position", (uuid.uuid4(), course_id, title, position))
        assert row is not None
        return Module(**row)

    def update_module_title(self, module_id: uuid.UUID, title: str) -> None:
        self.conn.execute("UPDATE lms.modules SET title = %s WHERE id = %s", (title, module_id))

    def delete_module(self, module_id: uuid.UUID) -> None:
        self.conn.execute("DELETE FROM lms.modules WHERE id = %s", (module_id,))

    def set_positions(self, table: str, ordered_ids: list[uuid.UUID]) -> None:
        if table not in ("modules", "lessons") or not ordered_ids:
            return
        self.conn.execute(
            sql.SQL("UPDATE lms.{} AS t SET position = o.pos - 1 FROM unnest(%s::uuid[]) WITH ORDINALITY AS o(id, pos) "
                    "WHERE t.id = o.id AND t.position <> o.pos - 1").format(sql.Identifier(table)),
            (ordered_ids,))

    LESSON_COLS = "id, module_id, course_id, title, kind, required, body, asset_id, position"

    def list_lessons(self, course_id: uuid.UUID, module_id: uuid.UUID | None = None) -> list[Lesson]:
        if module_id is None:
            rows = self._all(f"SELECT {self.LESSON_COLS} FROM lms.lessons WHERE course_id = %s "
                             "ORDER BY position, id", (course_id,))
        else:
            rows = self._all(f"SELECT {self.LESSON_COLS} FROM lms.lessons WHERE course_id = %s AND module_id = %s "
                             "ORDER BY position, id", (course_id, module_id))
        return [Lesson(**r) for r in rows]

    def get_lesson(self, course_id: uuid.UUID, module_id: uuid.UUID, lesson_id: uuid.UUID) -> Lesson | None:
        row = self._one(f"SELECT {self.LESSON_COLS} FROM lms.lessons WHERE id = %s AND module_id = %s "
                        "AND course_id = %s", (lesson_id, module_id, course_id))
        return Lesson(**row) if row else None

    def insert_lesson(self, course_id: uuid.UUID, module_id: uuid.UUID, fields: dict[str, Any],
                      position: int) -> Lesson:
        row = self._one(
            f"INSERT INTO lms.lessons (id, module_id, course_id, title, kind, required, body, asset_id, position) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {self.LESSON_COLS}",
            (uuid.uuid4(), module_id, course_id, fields["title"], fields["kind"], fields.get("required", True),
             fields.get("body"), fields.get("asset_id"), position))
        assert row is not None
        return Lesson(**row)

    def update_lesson(self, lesson_id: uuid.UUID, changes: dict[str, Any]) -> None:
        if not changes:
            return
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes)
        self.conn.execute(sql.SQL("UPDATE lms.lessons SET {} WHERE id = {}").format(
            assignments, sql.Placeholder("_id")), {**changes, "_id": lesson_id})

    def delete_lesson(self, lesson_id: uuid.UUID) -> None:
        self.conn.execute("DELETE FROM lms.lessons WHERE id = %s", (lesson_id,))

    # --- assets ------------------------------------------------------------------------------------
    ASSET_COLS = "id, course_id, filename, content_type, size_bytes, s3_key, created_by, created_at, deleted_at"

    def insert_asset(self, asset_id: uuid.UUID, course_id: uuid.UUID, filename: str, content_type: str,
                     size_bytes: int, s3_key: str, created_by: uuid.UUID) -> Asset:
        row = self._one(
            f"INSERT INTO lms.assets (id, course_id, filename, content_type, size_bytes, s3_key, created_by) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {self.ASSET_COLS}",
            (asset_id, course_id, filename, content_type, size_bytes, s3_key, created_by))
        assert row is not None
        return Asset(**row)

    def get_asset(self, course_id: uuid.UUID, asset_id: uuid.UUID) -> Asset | None:
        row = self._one(f"SELECT {self.ASSET_COLS} FROM lms.assets WHERE id = %s AND course_id = %s "
                        "AND deleted_at IS NULL", (asset_id, course_id))
        return Asset(**row) if row else None

    def list_assets(self, course_id: uuid.UUID) -> list[Asset]:
        return [Asset(**r) for r in self._all(f"SELECT {self.ASSET_COLS} FROM lms.assets WHERE course_id = %s "
                                              "AND deleted_at IS NULL ORDER BY created_at, id", (course_id,))]

    def mark_asset_deleted(self, asset_id: uuid.UUID) -> None:
        self.conn.execute("UPDATE lms.assets SET deleted_at = now() WHERE id = %s", (asset_id,))

    def lessons_using_asset(self, asset_id: uuid.UUID) -> list[Lesson]:
        return [Lesson(**r) for r in self._all(f"SELECT {self.LESSON_COLS} FROM lms.lessons WHERE asset_id = %s",
                                               (asset_id,))]

    def index_statuses(self, asset_ids: list[uuid.UUID]) -> dict[uuid.UUID, IndexStatus]:
        return asset_statuses(self.conn, asset_ids)

    # --- enrollments -------------------------------------------------------------------------------
    def live_enrollment(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Enrollment | None:
        row = self._one(f"SELECT {ENROLLMENT_COLS} FROM lms.enrollments WHERE user_id = %s AND course_id = %s "
                        "AND status IN ('active', 'completed')", (user_id, course_id))
        return Enrollment(**row) if row else None

    def count_live_enrollments(self, course_id: uuid.UUID) -> int:
        row = self._one("SELECT count(*) AS n FROM lms.enrollments WHERE course_id = %s "
                        "AND status IN ('active', 'completed')", (course_id,))
        return int(row["n"]) if row else 0

    def insert_enrollment(self, user_id: uuid.UUID, course_id: uuid.UUID, version: int) -> Enrollment | None:
        """The new enrollment with a progress row per lesson of the pinned version, or None if the user
        already has a live one (the partial unique index decides under concurrency)."""
        row = self._one(
            f"INSERT INTO lms.enrollments (id, user_id, course_id, course_version) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (user_id, course_id) WHERE status IN ('active', 'completed') DO NOTHING "
            f"RETURNING {ENROLLMENT_COLS}", (uuid.uuid4(), user_id, course_id, version))
        if row is None:
            return None
        self.conn.execute(
            """INSERT INTO lms.lesson_progress (enrollment_id, lesson_id, required)
               SELECT %s, (l->>'lesson_id')::uuid, (l->>'required')::boolean
               FROM lms.course_versions v, jsonb_array_elements(v.snapshot->'modules') m,
                    jsonb_array_elements(m->'lessons') l
               WHERE v.course_id = %s AND v.version = %s""",
            (row["id"], course_id, version))
        return Enrollment(**row)

    def get_enrollment(self, enrollment_id: uuid.UUID, *, lock: bool = False) -> Enrollment | None:
        suffix = " FOR UPDATE" if lock else ""
        row = self._one(f"SELECT {ENROLLMENT_COLS} FROM lms.enrollments WHERE id = %s{suffix}", (enrollment_id,))
        return Enrollment(**row) if row else None

    def set_enrollment_status(self, enrollment_id: uuid.UUID, status: str, at: datetime) -> Enrollment:
        column = {"completed": "completed_at", "cancelled": "cancelled_at"}[status]
        row = self._one(sql.SQL("UPDATE lms.enrollments SET status = %s, {} = %s WHERE id = %s RETURNING {}").format(
            sql.Identifier(column), sql.SQL(ENROLLMENT_COLS)), (status, at, enrollment_id))
        assert row is not None
        return Enrollment(**row)

    def list_user_enrollments(self, user_id: uuid.UUID, status: str | None,
                              after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Enrollment]:
        clauses = [sql.SQL("e.user_id = %(user)s")]
        params: dict[str, Any] = {"user": user_id, "limit": limit}
        if status is not None:
            clauses.append(sql.SQL("e.status = %(status)s"))
            params["status"] = status
        if after is not None:
            clauses.append(sql.SQL("(e.enrolled_at, e.id) < (%(after_ts)s, %(after_id)s)"))
            params["after_ts"], params["after_id"] = after
        query = sql.SQL(
            "SELECT e.id, e.user_id, e.course_id, e.course_version, e.status, e.enrolled_at, e.completed_at, "
            "e.cancelled_at, c.title AS course_title FROM lms.enrollments e JOIN lms.courses c ON c.id = e.course_id "
            "WHERE {} ORDER BY e.enrolled_at DESC, e.id DESC LIMIT %(limit)s").format(sql.SQL(" AND ").join(clauses))
        return [Enrollment(**r) for r in self._all(query, params)]

    # --- progress ----------------------------------------------------------------------------------
    PROGRESS_COLS = "lesson_id, required, status, percent, updated_at, completed_at"

    @staticmethod
    def _progress(row: Row) -> LessonProgress:
        return LessonProgress(lesson_id=row["lesson_id"], required=row["required"], status=row["status"],
                              percent=row["percent"], updated_at=row["updated_at"], completed_at=row["completed_at"])

    def get_progress(self, enrollment_id: uuid.UUID, lesson_id: uuid.UUID) -> LessonProgress | None:
        row = self._one(f"SELECT {self.PROGRESS_COLS} FROM lms.lesson_progress WHERE enrollment_id = %s "
                        "AND lesson_id = %s", (enrollment_id, lesson_id))
        return self._progress(row) if row is not None else None

    def save_progress(self, enrollment_id: uuid.UUID, lesson_id: uuid.UUID, status: str, percent: int,
                      completed_at: datetime | None) -> LessonProgress:
        row = self._one(
            f"UPDATE lms.lesson_progress SET status = %s, percent = %s, updated_at = now(), "
            f"completed_at = COALESCE(completed_at, %s) WHERE enrollment_id = %s AND lesson_id = %s "
            f"RETURNING {self.PROGRESS_COLS}", (status, percent, completed_at, enrollment_id, lesson_id))
        assert row is not None
        return self._progress(row)

    def progress_rows(self, enrollment_id: uuid.UUID) -> list[LessonProgress]:
        return [self._progress(r) for r in self._all(
            f"SELECT {self.PROGRESS_COLS} FROM lms.lesson_progress WHERE enrollment_id = %s", (enrollment_id,))]

    # --- idempotency -------------------------------------------------------------------------------
    def claim_idempotency_key(self, scope: str, key: str, method: str, path: str, request_hash: str) -> Row | None:
        """None when this call owns the key now (the row is ours until commit), else the stored row.
        A concurrent call with the same key waits here until the first commits or rolls back."""
        inserted = self._one(
            "INSERT INTO lms.idempotency_keys (scope, idem_key, method, path, request_hash) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, idem_key) DO NOTHING RETURNING scope",
            (scope, key, method, path, request_hash))
        if inserted is not None:
            return None
        return self._one("SELECT method, path, request_hash, response_status, response_body FROM lms.idempotency_keys "
                         "WHERE scope = %s AND idem_key = %s", (scope, key))

    def store_idempotent_response(self, scope: str, key: str, status: int, body: Any) -> None:
        self.conn.execute("UPDATE lms.idempotency_keys SET response_status = %s, response_body = %s "
                          "WHERE scope = %s AND idem_key = %s", (status, Jsonb(body), scope, key))
