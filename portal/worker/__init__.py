"""The worker process: the jobs that keep the ledger, M-Pesa and the routers in step.

Only one worker acts at a time (a leader lock in Redis); standbys take over when it dies.
"""
