"""Backtesting: replaying history through two releases, the metrics that compare them
(PSI, AUC, flip tables) and the JSON and HTML reports.

:mod:`~kaskad.backtest.run` replays, :mod:`~kaskad.backtest.result` holds the result as
plain data, :mod:`~kaskad.backtest.metrics` computes AUC, KS and PSI, and
:mod:`~kaskad.backtest.report` writes the JSON summary and the HTML page (a Jinja2
template in ``templates/``, its plots from :mod:`~kaskad.backtest.charts`)."""
