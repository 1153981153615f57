"""The worker process (``pay2connect worker``): the expiry timer, one lane per router, and the
periodic jobs that keep the ledger, M-Pesa and the routers in step.

Only one worker acts at a time (a leader lock in Redis); standbys take over when it dies.
"""
