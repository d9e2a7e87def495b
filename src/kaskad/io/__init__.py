"""Sources and sinks: files (CSV, Parquet, JSON Lines), folders and PostgreSQL tables.

Every path a record takes into kaskad in batch reads through :func:`open_source`; every
result leaves through :func:`open_sink`. Batch runs, serving and the registry share them.

- :mod:`kaskad.io.reading`: the contract every source keeps (``Source``,
  ``MalformedInputError``) and how a raw frame is checked and typed against the schema;
- :mod:`kaskad.io.sources`: ``open_source`` and the file and folder sources;
- :mod:`kaskad.io.postgres`: the PostgreSQL source, imported only when a database is read;
- :mod:`kaskad.io.sinks`: ``open_sink`` and the sinks; :mod:`kaskad.io.files`: whole files
  read into one frame.

Import from those modules: this package imports none of them, so that reading a file
never loads a database driver.
"""
