"""Admin CLI. Admins are never created through the API:

    python -m smartcourse.lms.cli create-admin --email a@example.com --name "Ada" [--password-stdin]

Reads DATABASE_URL (or DATABASE_SECRET_ARN); prompts for the password unless --password-stdin.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import ValidationError

from smartcourse.auth import hash_password
from smartcourse.errors import ConfigurationError
from smartcourse.lms.repository import PgRepository
from smartcourse.lms.schemas import RegisterRequest
from smartcourse.settings import CommonSettings, load_settings, resolve_database_url


class CliError(Exception):
    pass


def create_admin(database_url: str, email: str, name: str, password: str) -> dict[str, Any]:
    """Creates the admin account; an existing email is an error (never silently promoted)."""
    try:
        req = RegisterRequest(email=email, password=password, name=name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CliError(problems) from None
    with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.transaction():
        row = PgRepository(conn).insert_user(req.email, hash_password(req.password), req.name, "admin")
    if row is None:
        raise CliError(f"an account with email {req.email} already exists")
    return asdict(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartcourse.lms.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    ca = sub.add_parser("create-admin", help="create an admin account")
    ca.add_argument("--email", required=True)
    ca.add_argument("--name", required=True)
    ca.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    args = parser.parse_args(argv)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
        url = resolve_database_url(load_settings(CommonSettings))
        user = create_admin(url, args.email, args.name, password)
    except (CliError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created admin {user['email']} ({user['id']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
