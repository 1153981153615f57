"""The command line (`pay2connect ...`): click commands over the same business rules the web uses.

The top layer: it may build the web app, start the worker, open the ledger and run the demo.
"""
