"""Postgres access fit for Lambda: one connection per container, reconnect on failure.

`Database.transaction()` yields a psycopg connection inside a transaction. A connection that
broke (database restarted, idle timeout) is replaced on the next use; an operational error
surfaces as `DependencyUnavailable` so the API answers 503 and consumers retry.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from smartcourse.errors import DependencyUnavailable

Configure = Callable[[psycopg.Connection[Any]], None]


def register_pgvector(conn: psycopg.Connection[Any]) -> None:
    """A `Configure` for the AI side's connections: pgvector's types (text and binary), so numpy
    arrays are sent as `vector` parameters and `vector` columns load as `pgvector.Vector`."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


class Database:
    def __init__(self, url: str, *, connect_timeout: int = 5, configure: Configure | None = None,
                 application_name: str = "smartcourse", refresh_url: Callable[[], str] | None = None,
                 prepared_statements: bool = True) -> None:
        """`refresh_url`: where `url` came from (a Secrets Manager secret), read again when a
        connection cannot be opened; if it changed (the password was rotated) the connection is
        tried once more with the new one. Failures are not told apart by their message: a changed
        secret is the signal. `prepared_statements=False`: psycopg prepares no statement on the
        server (behind a pooling proxy, where one would pin the connection)."""
        self._url = url
        self._refresh_url = refresh_url
        self._connect_timeout = connect_timeout
        self._configure = configure
        self._application_name = application_name
        self._prepare_threshold: int | None = 5 if prepared_statements else None  # 5: psycopg's default
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return self._url

    @property
    def prepares_statements(self) -> bool:
        return self._prepare_threshold is not None

    def _open(self, url: str) -> psycopg.Connection[Any]:
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=self._connect_timeout,
                               application_name=self._application_name, prepare_threshold=self._prepare_threshold)
        if self._configure is not None:
            self._configure(conn)
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return self._open(self._url)
        except psycopg.OperationalError as exc:
            failure: Exception = exc
        if self._refresh_url is not None:
            fresh = self._refresh_url()
            if fresh != self._url:  # rotated since it was read: reconnect once with the new secret
                self._url = fresh
                try:
                    return self._open(fresh)
                except psycopg.OperationalError as exc:
                    failure = exc
        raise DependencyUnavailable("database unavailable") from failure

    def connection(self) -> psycopg.Connection[Any]:
        """The container's connection, reconnecting if it is closed or broken."""
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                if self._conn is not None:
                    self._conn.close()
                self._conn = self._connect()
            return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """Run the block in one transaction; retry-safe callers may call again on 503."""
        with self._lock:
            conn = self.connection()
            try:
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:
                    self._conn = None
                raise DependencyUnavailable("database unavailable") from exc

    def fetch_one(self, query: str, params: Any = ()) -> Any:
        """One read-only statement outside any transaction block (the connection is in autocommit):
        one round trip instead of BEGIN, the statement and COMMIT. The row, or None."""
        with self._lock:
            conn = self.connection()
            try:
                return conn.execute(query, params).fetchone()
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:
                    self._conn = None
                raise DependencyUnavailable("database unavailable") from exc

    def ping(self) -> None:
        with self.transaction() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
