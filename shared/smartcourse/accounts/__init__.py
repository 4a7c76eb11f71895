"""Accounts: sessions (access + rotating refresh tokens), sign-in limits, administration of users,
and the audit log. Tables in the LMS schema (lms.users owns the accounts); docs/accounts.md."""
