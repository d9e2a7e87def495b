"""kaskad: versioned decision pipelines that run identically in batch and in real time."""

__version__ = "0.1.0"
