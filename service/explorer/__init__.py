"""The lineage explorer: read-only pages of the ledger for people (auditors above all), served
by the service under ``/explorer``. See ``routes.py``."""
