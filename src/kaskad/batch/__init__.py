"""Batch runs: a source streamed through a plan into a sink, run summaries, the Spark engine."""
