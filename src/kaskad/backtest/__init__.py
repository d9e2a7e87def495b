"""Backtesting: replaying history through two releases, the metrics that compare them
(PSI, AUC, flip tables) and the JSON and HTML reports."""
