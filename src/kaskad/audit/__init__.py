"""Auditing the decision log: replaying logged decisions through the releases that made
them, explaining one decision in plain language, and logged traffic as backtest input.

- :mod:`kaskad.audit.replay`: :func:`~kaskad.audit.replay.replay` and its report;
- :mod:`kaskad.audit.explain`: :func:`~kaskad.audit.explain.explain_decision` and the
  HTML rendering;
- :mod:`kaskad.audit.traffic`: logged inputs as frames (backtests) and the Parquet export.

Keeping the log (partitions, prune, erasure) belongs to the store
(:mod:`kaskad.store.decision_keeping`). Import from the modules: this package imports
none of them, so that ``import kaskad.audit`` loads no database driver.
"""

__all__: list[str] = []
