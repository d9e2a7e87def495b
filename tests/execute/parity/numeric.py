import numpy as np

from kaskad import feature


@feature(returns="float")
def scaled(x, y):
    """x scaled by y, missing when y is missing or zero."""
    with np.errstate(all="ignore"):
        return np.where(y != 0, np.log1p(np.abs(x)) * np.sign(x) / y, np.nan)


@feature(returns="integer")
def clipped(i):
    return np.clip(i, -100, 100)


@feature(returns="boolean", inputs={"label": "s"})
def has_label(label):
    return np.array([v is not None and len(v) > 1 for v in label], dtype=object)


@feature(returns="string")
def bucket(x):
    return np.where(np.isnan(x), None, np.where(x > 0, "up", "down"))
