"""The pixel pitch and origin of an axis from the positions an instrument recorded.

Instruments record stage positions as decimals (``880.7835``, ``880.7985``, ...).
Computing the step as ``(last - first) / (n - 1)`` in binary floating point gives
``0.015000000000000138``: the cancellation of two large numbers leaves round-off
that then shows everywhere the calibration is used.  :func:`even_spacing` finds
the decimal resolution the positions were written with and, when the positions
are evenly spaced on that grid, gives the step and origin as those decimals
(``0.015``, ``880.7835``).
"""

from __future__ import annotations

import numpy as np

#: Most decimals looked for in recorded positions.
MAX_DECIMALS = 12


def recorded_decimals(values: np.ndarray) -> int | None:
    """Return the fewest decimals ``d`` for which every value is a multiple of ``10**-d`` (to float round-off)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    size = float(np.max(np.abs(values)))
    for d in range(MAX_DECIMALS + 1):
        if size * 10.0**d >= 2.0**52:  # beyond this the decimals are not held exactly
            return None
        rounded = np.round(values, d)
        if np.all(np.abs(values - rounded) <= 4 * np.finfo(np.float64).eps * np.maximum(np.abs(values), 10.0**-d)):
            return d
    return None


def even_spacing(points, *, rtol: float = 1e-4, eps: float | None = None) -> tuple[float, float] | None:
    """Return ``(step, first)`` of evenly spaced positions, else None.

    Positions are evenly spaced when every difference is within ``rtol`` of the
    mean step (or within the round-off ``eps`` -- float64's unless the positions
    were stored with fewer bits -- of their magnitude).  When they are
    evenly spaced on the decimal grid they were recorded with, the step and the
    first position are that grid's decimals exactly; otherwise (positions rounded
    irregularly, or not decimals at all) the mean step and the first position.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1)
    if points.size < 2 or not np.all(np.isfinite(points)):
        return None
    step = (points[-1] - points[0]) / (points.size - 1)
    if step == 0:
        return None
    eps = float(np.finfo(np.float64).eps) if eps is None else eps
    tolerance = max(rtol * abs(step), 4 * eps * float(np.max(np.abs(points))))
    if np.max(np.abs(np.diff(points) - step)) > tolerance:
        return None
    decimals = recorded_decimals(points)
    if decimals is not None:
        units = np.rint(points * 10.0**decimals)
        steps = np.diff(units)
        if np.all(steps == steps[0]):
            return float(steps[0] / 10.0**decimals), float(units[0] / 10.0**decimals)
    return float(step), float(points[0])
