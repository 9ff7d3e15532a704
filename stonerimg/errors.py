"""Exceptions and warnings raised by stonerimg."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["ConversionWarning", "FormatError", "FormatMismatch", "warn_user"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class FormatError(ValueError):
    """No registered format could read a file.

    Parameters
    ----------
    filename : str or os.PathLike
        The file that could not be read.
    attempts : list of (str, str)
        ``(format name, reason)`` for every format that was tried, in order.
    reason : str, optional
        A summary used when no format was tried at all.
    """

    def __init__(self, filename, attempts=(), reason=""):
        self.filename = os.fspath(filename)
        self.attempts = list(attempts)
        self.reason = reason
        lines = [f"cannot load {self.filename!r}: {reason or 'no format could read it'}"]
        lines += [f"  - {name}: {why}" for name, why in self.attempts]
        super().__init__("\n".join(lines))

    def __reduce__(self):
        # rebuilt from its parts, so the error survives a trip through a worker process
        return (type(self), (self.filename, self.attempts, self.reason))


class FormatMismatch(Exception):  # noqa: N818 - a decline, not an error
    """Raised by a loader to decline a file that is not of its kind.

    This is internal to the format registry: :func:`stonerimg.load` catches it,
    records the reason and tries the next candidate format.
    """


class ConversionWarning(UserWarning):
    """A dtype conversion may lose precision or sign information."""


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first caller outside stonerimg.

    Image functions call each other (``asint`` calls ``convert``), so a fixed
    ``stacklevel`` would point into the library; this points at the user's line.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
