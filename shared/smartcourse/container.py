"""One way to wire a function: its dependencies built once per process, on first use.

Each function's module declares what it needs as one frozen dataclass built by one function
decorated with `@container`; the handler calls it (``deps().service...``). Nothing is built at
import (a cold start that cannot read its settings fails on the first invocation, naming the
setting), the build runs once per container even under concurrent first calls, and tests that
change the environment call `reset_all()`: it forgets the settings read so far and every built
container, so the next call builds again from the new environment.

    @dataclass(frozen=True)
    class Deps:
        settings: RelaySettings
        relay: Relay

    @container
    def deps() -> Deps:
        s = load_settings(RelaySettings)
        return Deps(s, Relay(s, database_for(s, "smartcourse-outbox-relay")))
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from smartcourse.db import Configure, Database
    from smartcourse.settings import CommonSettings

__all__ = ["Container", "container", "database_for", "reset_all"]

T = TypeVar("T")
_UNSET = object()
_containers: weakref.WeakSet[Container[object]] = weakref.WeakSet()


class Container(Generic[T]):
    """A value built by `build` on the first call and kept until `reset`."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: object = _UNSET
        self.__doc__ = build.__doc__
        self.__name__ = getattr(build, "__name__", "container")
        _containers.add(self)  # type: ignore[arg-type]

    def __call__(self) -> T:
        value = self._value
        if value is _UNSET:
            with self._lock:
                if self._value is _UNSET:
                    self._value = self._build()
                value = self._value
        return value  # type: ignore[return-value]

    @property
    def built(self) -> bool:
        return self._value is not _UNSET

    def reset(self) -> None:
        with self._lock:
            self._value = _UNSET


def container(build: Callable[[], T]) -> Container[T]:
    """Decorator: `build` runs on the first call, its result is reused until `reset_all()`."""
    return Container(build)


def reset_all() -> None:
    """Forget every container's value and the settings read so far (tests, one call)."""
    from smartcourse import secrets
    from smartcourse.settings import load_settings

    load_settings.cache_clear()
    secrets.forget()
    for c in list(_containers):
        c.reset()


def database_for(settings: CommonSettings, application_name: str, *,
                 configure: Configure | None = None) -> Database:
    """The function's database from its settings: DATABASE_URL or the DATABASE_SECRET_ARN secret
    (read again when a connection fails: a rotated password is picked up by a warm container),
    its connect timeout, and `application_name` (seen in pg_stat_activity)."""
    from smartcourse.db import Database
    from smartcourse.settings import resolve_database_url

    refresh = None
    arn = settings.database_secret_arn
    if arn and not settings.database_url:  # from Secrets Manager: a rotation is read again on failure
        from smartcourse import secrets

        def refresh() -> str:
            secrets.forget(arn)
            return resolve_database_url(settings)

    # Behind RDS Proxy a server-side prepared statement pins the client to one database connection
    # for the rest of its life: psycopg prepares none there.
    return Database(resolve_database_url(settings), connect_timeout=settings.database_connect_timeout,
                    application_name=application_name, configure=configure, refresh_url=refresh,
                    prepared_statements=not settings.database_proxy_host)
