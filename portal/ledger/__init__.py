"""The durable ledger (peewee): the database handle, the models, the timeline, migrations.

The ledger is the truth; Redis only mirrors what is live and is rebuilt from here.
"""
