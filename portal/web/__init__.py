"""The web layer: the Flask app, the customer pages, the JSON API and the admin.

Views parse input, call one business rule in :mod:`portal.domain` and render. They never
query the ledger or Redis themselves (an import contract checks it).
"""
