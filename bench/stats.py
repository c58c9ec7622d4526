"""The one percentile of the benchmarks and the race harness (stdlib only).

Shipped to the podman nodes beside ckpt_node_driver.py (tests/molecule/race_trials.py NODE_FILES),
so it imports nothing but the standard library.
"""

from __future__ import annotations


def percentile(values: list[float], pct: float, ndigits: int | None = None) -> float | None:
    """Linear interpolation between the closest ranks; None for no values. ``ndigits`` rounds."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return value if ndigits is None else round(value, ndigits)
