"""The region of interest of a live session: a box ``(x, y, w, h)`` or a mask, changeable while frames flow."""

from __future__ import annotations

import numbers
import threading
from typing import NamedTuple

import numpy as np

from ..array import ImageArray

__all__ = ["ROI"]


class _State(NamedTuple):
    """One immutable setting of an ROI (swapped as a whole, so a reader never sees half of a change)."""

    box: tuple[int, int, int, int] | None  # (x, y, w, h) as given
    mask: np.ndarray | None  # read-only, full-frame boolean
    bounds: tuple[int, int, int, int] | None  # (x, y, w, h) of the mask's True pixels
    outside: np.ndarray | None  # read-only ~mask within bounds (True = not in the ROI)


def _pixels(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"roi: {name} must be an int >= {minimum} (pixels), not {value!r}")
    return int(value)


def _state(x=None, y=None, w=None, h=None, mask=None) -> _State:
    given = [v is not None for v in (x, y, w, h)]
    if mask is not None:
        if any(given):
            raise ValueError("roi: give either a box (x, y, w, h) or a mask, not both")
        array = np.array(mask, dtype=bool, copy=True)
        if array.ndim != 2:
            raise ValueError(f"roi: a mask must be a 2-D array of booleans, not of shape {array.shape}")
        rows = np.flatnonzero(array.any(axis=1))
        cols = np.flatnonzero(array.any(axis=0))
        if rows.size == 0:
            raise ValueError("roi: the mask selects no pixels")
        bx, by = int(cols[0]), int(rows[0])
        bw, bh = int(cols[-1]) - bx + 1, int(rows[-1]) - by + 1
        outside = ~array[by : by + bh, bx : bx + bw]
        array.flags.writeable = False
        outside.flags.writeable = False
        return _State(None, array, (bx, by, bw, bh), outside)
    if not any(given):
        return _State(None, None, None, None)
    if not all(given):
        raise ValueError(f"roi: a box needs all of x, y, w, h, not {(x, y, w, h)!r}")
    box = (_pixels(x, "x", 0), _pixels(y, "y", 0), _pixels(w, "w", 1), _pixels(h, "h", 1))
    return _State(box, None, box, None)


class ROI:
    """A region of interest: the whole frame, a box ``(x, y, w, h)`` or a boolean mask.

    Parameters
    ----------
    x, y : int, optional
        Column and row of the box's top-left pixel.
    w, h : int, optional
        Width and height of the box in pixels.
    mask : array_like of bool, optional
        Instead of a box: True for the pixels of interest (the frame's shape).

    Notes
    -----
    Unlike the ``(xmin, xmax, ymin, ymax)`` boxes of the image functions, a live ROI is
    given as ``(x, y, w, h)`` (the form of a rubber-band selection on a live view).
    :meth:`set` may be called from any thread while a session runs: each frame is cut
    with one complete setting, the old or the new.  A box reaching past the frame is
    clipped to it; a box entirely outside is an error for that frame.  A mask ROI
    gives the processors the bounding box of the mask, with the pixels outside the
    mask masked (statistics ignore them).

    Examples
    --------
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> roi = ROI(2, 1, 3, 2)
    >>> roi.apply(ImageArray(np.arange(30).reshape(5, 6))).tolist()
    [[8, 9, 10], [14, 15, 16]]
    >>> roi.set(0, 0, 2, 2); roi.box
    (0, 0, 2, 2)
    """

    def __init__(self, x=None, y=None, w=None, h=None, *, mask=None):
        self._lock = threading.Lock()
        self._current = _state(x, y, w, h, mask)

    @classmethod
    def parse(cls, text: str) -> ROI:
        """Read ``"x,y,w,h"`` (four integers, as on the command line).

        Raises
        ------
        ValueError
            If the text is not four comma-separated integers with ``w, h >= 1``.
        """
        parts = [p.strip() for p in str(text).split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4:
            raise ValueError(f"roi: expected four integers x,y,w,h, not {text!r}")
        return cls(*values)

    @classmethod
    def coerce(cls, value) -> ROI:
        """Return ``value`` as an ROI: an ROI itself, ``None`` (the whole frame), ``(x, y, w, h)`` or a mask."""
        if isinstance(value, ROI):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, np.ndarray) and value.ndim == 2:
            return cls(mask=value)
        if isinstance(value, (tuple, list)) and len(value) == 4:
            return cls(*value)
        raise TypeError(f"roi: must be an ROI, None, (x, y, w, h) or a 2-D boolean mask, not {value!r}")

    def set(self, x=None, y=None, w=None, h=None, *, mask=None) -> None:
        """Change the ROI (from any thread): a box, a mask, or nothing for the whole frame."""
        state = _state(x, y, w, h, mask)
        with self._lock:
            self._current = state

    def clear(self) -> None:
        """Use the whole frame."""
        self.set()

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """The box ``(x, y, w, h)``, or None (whole frame or a mask)."""
        return self._current.box

    @property
    def mask(self) -> np.ndarray | None:
        """The mask (read-only), or None."""
        return self._current.mask

    @property
    def bounds(self) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` of the pixels in the ROI before clipping to a frame; None for the whole frame."""
        return self._current.bounds

    def apply(self, frame: ImageArray) -> ImageArray:
        """Cut the ROI out of a frame: a view (no copy) with its own metadata.

        The view's metadata holds ``"roi"`` = ``(x, y, w, h)`` of the part of the frame
        it shows, and a calibrated frame's offsets move so that physical coordinates
        stay the same.

        Raises
        ------
        ValueError
            If the box lies outside the frame, or a mask's shape differs from the frame's.
        """
        state = self._current  # one read: a consistent setting even if set() runs meanwhile
        rows, cols = frame.shape[-2:]
        if state.mask is not None and state.mask.shape != (rows, cols):
            raise ValueError(f"roi: the mask's shape {state.mask.shape} differs from the frame's {(rows, cols)}")
        if state.bounds is None:
            view = frame.view(type(frame))
            view._metadata["roi"] = (0, 0, cols, rows)
            return view
        x, y, w, h = state.bounds
        x1, y1 = min(x + w, cols), min(y + h, rows)
        if x >= cols or y >= rows:
            raise ValueError(f"roi: the box {state.bounds} lies outside the {cols} x {rows} frame")
        from ..funcs.geometry import crop

        view = crop(frame, (x, x1, y, y1))
        view._metadata["roi"] = (x, y, x1 - x, y1 - y)
        if state.outside is not None:
            outside = state.outside
            if frame._mask is not np.ma.nomask:
                outside = outside | np.asarray(frame._mask)[y:y1, x:x1]
            view._set_mask_fast(outside)
        return view

    def __repr__(self):
        state = self._current
        if state.mask is not None:
            return f"ROI(mask of {int(state.mask.sum())} pixels in {state.bounds})"
        if state.box is None:
            return "ROI(whole frame)"
        return "ROI({}, {}, {}, {})".format(*state.box)
