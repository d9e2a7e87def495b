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


@feature(returns="integer")
def above_object(items, o):
    """List elements whose x exceeds the object's x: a hand-written count over a list."""
    out = []
    for elems, obj in zip(items, o, strict=True):
        limit = None if obj is None else obj["x"]
        if elems is None or limit is None:
            out.append(np.nan)
            continue
        out.append(sum(1 for e in elems if e["x"] is not None and e["x"] > limit))
    return np.array(out, dtype=float)


@feature(returns="string")
def latest_item(items, tags):
    """The latest element time and the first tag, as text (dates stay Python datetimes)."""
    out = []
    for elems, names in zip(items, tags, strict=True):
        times = [e["ts"] for e in elems or [] if e["ts"] is not None]
        first = names[0] if names else None
        out.append(f"{max(times).isoformat() if times else '-'} {first}")
    return np.array(out, dtype=object)
