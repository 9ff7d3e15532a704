"""Where a processor's results go: a scalar trace, a profile waterfall or the latest image.

Each sink is a ring buffer guarded by its own lock: a processor thread appends, a
display or a recorder reads a consistent copy at any time.  A sink also feeds any
number of *taps* (a recorder's inbox): every entry appended after a tap was opened
reaches it, whatever the ring buffer's capacity.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

__all__ = ["LatestImage", "ScalarTrace", "Waterfall"]


class _Tap:
    """Entries appended to a sink since the last :meth:`take`."""

    def __init__(self, sink, initial: list):
        self._sink = sink
        self._entries = initial

    def take(self) -> list:
        """Return the new entries (oldest first) and start afresh."""
        with self._sink._lock:
            entries, self._entries = self._entries, []
        return entries

    def close(self) -> None:
        """Stop receiving entries."""
        with self._sink._lock:
            if self in self._sink._taps:
                self._sink._taps.remove(self)


class _Sink:
    kind = ""

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity: must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._taps: list[_Tap] = []
        self.total = 0  # entries ever appended

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def _order(self) -> np.ndarray:
        """Ring-buffer indices of the entries held, oldest first."""
        n = len(self)
        return (self.total - n + np.arange(n)) % self.capacity

    def _entries(self) -> list:
        raise NotImplementedError

    def tap(self) -> _Tap:
        """Open a tap: it first holds the entries now in the buffer, then every new one."""
        with self._lock:
            tap = _Tap(self, self._entries())
            self._taps.append(tap)
        return tap

    def _feed(self, entry) -> None:
        for tap in self._taps:
            tap._entries.append(entry)


class TraceData(NamedTuple):
    """A copy of a trace: times, frame numbers and a ``(n, columns)`` array of values."""

    t: np.ndarray
    frame: np.ndarray
    values: np.ndarray


class ScalarTrace(_Sink):
    """A ring buffer of ``(t, frame, values)`` rows: one or more numbers per processed frame.

    Parameters
    ----------
    columns : sequence of str, default ("value",)
        Names of the numbers in a row (e.g. ``("x", "y")`` for a position).
    capacity : int, default 100000
        Rows kept in memory (the oldest are overwritten).

    Examples
    --------
    >>> trace = ScalarTrace()
    >>> trace.append(0.5, 0, [3.0]); trace.append(1.0, 1, [4.0])
    >>> trace.data().values[:, 0].tolist(), len(trace)
    ([3.0, 4.0], 2)
    """

    kind = "scalar"

    def __init__(self, columns=("value",), capacity: int = 100_000):
        super().__init__(capacity)
        self.columns = tuple(str(c) for c in columns)
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns: need one or more distinct names, not {columns!r}")
        self._t = np.zeros(capacity)
        self._frame = np.zeros(capacity, dtype=np.int64)
        self._values = np.zeros((capacity, len(self.columns)))

    def append(self, t: float, frame: int, values) -> None:
        """Add one row (``values`` holds one number per column)."""
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        if row.size != len(self.columns):
            raise ValueError(f"values: need {len(self.columns)} numbers ({', '.join(self.columns)}), not {row.size}")
        with self._lock:
            i = self.total % self.capacity
            self._t[i], self._frame[i], self._values[i] = t, frame, row
            self.total += 1
            if self._taps:
                self._feed((float(t), int(frame), row))

    def data(self) -> TraceData:
        """Return a copy of the rows held, oldest first."""
        with self._lock:
            order = self._order()
            return TraceData(self._t[order], self._frame[order], self._values[order])

    def column(self, name: str) -> np.ndarray:
        """Return the values of one column, oldest first."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; the trace has {', '.join(self.columns)}")
        return self.data().values[:, self.columns.index(name)]

    def _entries(self) -> list:
        order = self._order()
        return [(float(self._t[i]), int(self._frame[i]), self._values[i].copy()) for i in order]


class WaterfallData(NamedTuple):
    """A copy of a waterfall: times, frame numbers and the ``(n, width)`` image of rows."""

    t: np.ndarray
    frame: np.ndarray
    rows: np.ndarray


class Waterfall(_Sink):
    """A ring buffer of 1-D profiles: an image growing one row per processed frame.

    Parameters
    ----------
    capacity : int, default 1000
        Rows kept in memory (the oldest are overwritten).

    Notes
    -----
    The width is that of the longest row so far; shorter rows (after the ROI shrank,
    say) are padded with NaN, and earlier rows are padded when a longer one arrives.

    Examples
    --------
    >>> w = Waterfall()
    >>> w.append(0.0, 0, [1.0, 2.0]); w.append(0.1, 1, [3.0, 4.0, 5.0])
    >>> w.data().rows.tolist()
    [[1.0, 2.0, nan], [3.0, 4.0, 5.0]]
    """

    kind = "profile"

    def __init__(self, capacity: int = 1000):
        super().__init__(capacity)
        self._t = np.zeros(capacity)
        self._frame = np.zeros(capacity, dtype=np.int64)
        self._rows = np.full((capacity, 0), np.nan)

    @property
    def width(self) -> int:
        """Length of the longest row so far."""
        return self._rows.shape[1]

    def append(self, t: float, frame: int, row) -> None:
        """Add one profile."""
        row = np.asarray(row, dtype=np.float64)
        if row.ndim != 1:
            raise ValueError(f"row: a profile must be 1-D, not of shape {row.shape}")
        row = row.copy()
        with self._lock:
            if row.size > self._rows.shape[1]:
                wider = np.full((self.capacity, row.size), np.nan)
                wider[:, : self._rows.shape[1]] = self._rows
                self._rows = wider
            i = self.total % self.capacity
            self._t[i], self._frame[i] = t, frame
            self._rows[i, : row.size] = row
            self._rows[i, row.size :] = np.nan
            self.total += 1
            if self._taps:
                self._feed((float(t), int(frame), row))

    def data(self) -> WaterfallData:
        """Return a copy of the rows held, oldest first."""
        with self._lock:
            order = self._order()
            return WaterfallData(self._t[order], self._frame[order], self._rows[order])

    def latest(self) -> np.ndarray | None:
        """Return the newest profile (without padding), or None."""
        with self._lock:
            if not self.total:
                return None
            row = self._rows[(self.total - 1) % self.capacity]
            valid = np.flatnonzero(~np.isnan(row))
            return row[: valid[-1] + 1].copy() if valid.size else row.copy()

    def _entries(self) -> list:
        return [(float(self._t[i]), int(self._frame[i]), self._rows[i].copy()) for i in self._order()]


class LatestImage(_Sink):
    """The newest 2-D result, with its time and frame number.

    Attributes
    ----------
    image : ndarray or None
        The newest image (as the processor returned it), or None before the first.
    t : float
        Its frame's time (NaN before the first).
    frame : int
        Its frame number (-1 before the first).

    Examples
    --------
    >>> import numpy as np
    >>> latest = LatestImage()
    >>> latest.append(2.0, 7, np.ones((2, 3))); latest.frame, latest.image.shape
    (7, (2, 3))
    """

    kind = "image"

    def __init__(self):
        super().__init__(1)
        self.image = None
        self.t = float("nan")
        self.frame = -1

    def append(self, t: float, frame: int, image) -> None:
        """Replace the image."""
        if np.ndim(image) != 2:
            raise ValueError(f"image: must be 2-D, not of shape {np.shape(image)}")
        with self._lock:
            self.image, self.t, self.frame = image, float(t), int(frame)
            self.total += 1
            if self._taps:
                self._feed((self.t, self.frame, image))

    def latest(self):
        """``(t, frame, image)`` read together."""
        with self._lock:
            return self.t, self.frame, self.image

    def __len__(self) -> int:
        return int(self.image is not None)

    def _entries(self) -> list:
        return [] if self.image is None else [(self.t, self.frame, self.image)]
