"""Business rules: payments, confirmations, grants (sessions), the router outbox, expiry,
reconciliation, accounts and reports.

Every rule takes a :class:`~portal.domain.context.Services` and never touches Flask or the
request; the web, the worker and the CLI call the same functions.
"""
