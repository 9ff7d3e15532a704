"""``Processor``: a function run on each frame, with the kind of result that chooses its sink."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from ..array import ImageArray
from .roi import ROI
from .sinks import LatestImage, ScalarTrace, Waterfall

__all__ = ["KINDS", "Processor"]

#: The kinds of result and what each becomes.
KINDS = {"scalar": "a trace of numbers", "profile": "a waterfall of 1-D rows", "image": "the latest 2-D image"}


class Processor:
    """A function ``frame -> result`` run on the frames of a live session.

    Parameters
    ----------
    func : callable
        Called with each frame cut to the ROI: a **read-only**
        :class:`~stonerimg.ImageArray` view with the frame's metadata (``"frame"``,
        ``"time"``, ``"roi"`` and what the source knows).  Image functions work on it
        as usual (``frame.fft()`` returns a new image); writing into it raises
        ``ValueError: assignment destination is read-only`` (copy first).
    kind : {"scalar", "profile", "image"}
        What ``func`` returns: a number (or a fixed number of them, see ``columns``),
        a 1-D profile (an array, a :class:`~stonerimg.funcs.fourier.RadialProfile`,
        whose ``mean`` is taken, or a :class:`~stonerimg.funcs.profiles.Profile`,
        whose ``value`` is taken), or a 2-D image.
    name : str, optional
        Unique name in the session (default: the function's name).
    roi : ROI, (x, y, w, h), mask or None
        This processor's own region of interest; default the session's.
    columns : sequence of str, optional
        For a scalar processor returning several numbers, their names (default ``("value",)``).
    capacity : int, optional
        Rows kept in memory by a trace (default 100000) or a waterfall (default 1000).

    Examples
    --------
    >>> import numpy as np
    >>> p = Processor(np.mean, "scalar", name="mean")
    >>> p.apply(ImageArray(np.arange(6.0).reshape(2, 3)))
    array([2.5])
    """

    def __init__(
        self,
        func: Callable,
        kind: str = "scalar",
        *,
        name: str | None = None,
        roi=None,
        columns=None,
        capacity: int | None = None,
    ):
        if not callable(func):
            raise TypeError(f"func: must be callable, not {type(func).__name__}")
        if kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}")
        self.func = func
        self.kind = kind
        name = name if name is not None else getattr(func, "__name__", "")
        if not isinstance(name, str) or not name or name == "<lambda>" or "/" in name or name.startswith("."):
            raise ValueError(
                f"name: give the processor a name (not {name!r}; no '/' and not starting with '.'), "
                "e.g. Processor(lambda f: ..., name='contrast')"
            )
        self.name = name
        self.roi = None if roi is None else ROI.coerce(roi)
        if columns is not None and kind != "scalar":
            raise ValueError(f"columns: only a scalar processor has columns, not a {kind} one")
        if isinstance(columns, str):
            columns = (columns,)
        self.columns = tuple(columns) if columns is not None else ("value",)
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, numbers.Integral)):
            raise TypeError(f"capacity: must be an int, not {capacity!r}")
        self.capacity = capacity

    def __repr__(self):
        return f"Processor({getattr(self.func, '__name__', self.func)!r}, kind={self.kind!r}, name={self.name!r})"

    def make_sink(self):
        """Make a new, empty sink for this processor's results."""
        if self.kind == "scalar":
            return ScalarTrace(self.columns, **({} if self.capacity is None else {"capacity": self.capacity}))
        if self.kind == "profile":
            return Waterfall(**({} if self.capacity is None else {"capacity": self.capacity}))
        return LatestImage()

    def convert(self, result):
        """Check a result of ``func`` and turn it into what the sink stores.

        Raises
        ------
        TypeError, ValueError
            If the result does not fit the processor's kind (naming the processor).
        """
        from ..funcs.fourier import RadialProfile
        from ..funcs.profiles import Profile

        if self.kind == "scalar":
            try:
                values = np.asarray(result, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as err:
                raise TypeError(f"processor {self.name!r}: returned {type(result).__name__}, not numbers") from err
            if values.size != len(self.columns):
                raise ValueError(
                    f"processor {self.name!r}: returned {values.size} numbers, expected {len(self.columns)} "
                    f"({', '.join(self.columns)}); give columns= for several numbers"
                )
            return values
        if self.kind == "profile":
            if isinstance(result, RadialProfile):
                result = result.mean
            elif isinstance(result, Profile):
                result = result.value
            row = np.asarray(result)
            if row.ndim == 2 and 1 in row.shape:
                row = row.reshape(-1)
            if row.ndim != 1 or row.dtype.kind not in "biuf":
                raise ValueError(
                    f"processor {self.name!r}: a profile must be a 1-D array of real numbers, "
                    f"not {row.dtype} of shape {row.shape}"
                )
            return row
        if np.ndim(result) != 2:
            raise ValueError(f"processor {self.name!r}: an image must be 2-D, not of shape {np.shape(result)}")
        return result if isinstance(result, np.ndarray) else np.asarray(result)

    def cut(self, frame: ImageArray, roi: ROI | None = None) -> ImageArray:
        """Cut out the part of ``frame`` this processor sees: its own ROI, else ``roi``, else the whole frame."""
        use = self.roi if self.roi is not None else roi
        return (use or ROI()).apply(frame)

    def apply(self, frame: ImageArray, roi: ROI | None = None):
        """Cut the frame to the ROI, run the function and check its result (what a session does)."""
        return self.convert(self.func(self.cut(frame, roi)))
