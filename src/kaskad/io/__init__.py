"""Sources and sinks: files (CSV, Parquet, JSON Lines), folders and PostgreSQL tables.

Every path a record takes into kaskad in batch reads through :func:`open_source`; every
result leaves through :func:`open_sink`. Batch runs, serving and the registry share them.
"""
