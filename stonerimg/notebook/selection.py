"""Selection: a box, line, polygon, ellipse or points picked on an image, in pixel ``(x, y)``.

This module is light (NumPy only) so that the functions taking a box, a line, a
point or a mask can accept a :class:`Selection` without importing matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["KINDS", "Selection", "data_to_pixel"]

KINDS = ("box", "line", "polygon", "ellipse", "point")


def data_to_pixel(xy, extent, shape: tuple[int, int], origin: str = "upper") -> np.ndarray:
    """Convert data coordinates of an ``imshow`` to pixel ``(x, y)`` (pixel centres at integers).

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Points in the axes' data coordinates (physical units when the image was
        shown with a calibrated ``extent``).
    extent : (left, right, bottom, top)
        The extent of the shown image (``AxesImage.get_extent()``).
    shape : (rows, cols)
        The image's shape.
    origin : {"upper", "lower"}
        Where row 0 was drawn.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float pixel coordinates ``(x, y)``.

    Examples
    --------
    >>> data_to_pixel([(0.0, 0.0), (10.0, 5.0)], (-0.5, 99.5, 49.5, -0.5), (50, 100)).tolist()
    [[0.0, 0.0], [10.0, 5.0]]
    >>> data_to_pixel([(1.5, 0.25)], (-0.025, 4.975, 2.475, -0.025), (50, 100)).round(6).tolist()  # 50 nm/px
    [[30.0, 5.0]]
    """
    left, right, bottom, top = (float(v) for v in extent)
    rows, cols = shape
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    x = (xy[:, 0] - left) / (right - left) * cols - 0.5
    if origin == "upper":  # row 0 is drawn at the ``top`` value
        y = (xy[:, 1] - top) / (bottom - top) * rows - 0.5
    else:
        y = (xy[:, 1] - bottom) / (top - bottom) * rows - 0.5
    # a millionth of a pixel is far below what a mouse can pick; rounding keeps shapes whose edges
    # fall on pixel centres (a drag in calibrated units) from flipping pixels on round-off
    return np.round(np.column_stack([x, y]), 6) + 0.0


def _edge(value: float, size: int) -> int:
    """Return a box edge from a continuous pixel coordinate: rounded half up, clipped to ``0..size``."""
    return int(min(max(np.floor(value + 0.5), 0), size))


class Selection:
    """What was picked on an image with :func:`~stonerimg.notebook.select.select`.

    The geometry is read from the selector each time it is asked for, so a
    selection made in one notebook cell is up to date in the next.  Every
    coordinate is in the image's **pixels** ``(x, y)`` (column, row; pixel
    centres at integers), whatever the calibration of the axes it was drawn on.

    Parameters
    ----------
    kind : {"box", "line", "polygon", "ellipse", "point"}
        What is selected.
    shape : (rows, cols)
        The image's shape (for :attr:`mask` and for clipping :attr:`box`).
    points : array_like, optional
        The defining points in pixel ``(x, y)``, for a selection made by hand: two
        opposite corners of a box or of an ellipse's bounding box, the two ends of
        a line, the polygon's vertices or the points.
    ax : matplotlib.axes.Axes, optional
        The axes the selector listens on.

    Attributes
    ----------
    kind : str
        The kind of selection.
    ax : matplotlib.axes.Axes or None
        The axes the selector listens on.
    done : bool
        True once enter was pressed (the selection is finished).
    cancelled : bool
        True once escape was pressed (the geometry is cleared).

    Examples
    --------
    >>> sel = Selection("box", (100, 100), points=[(25, 25), (75, 50)])
    >>> sel.box
    (25, 75, 25, 50)
    >>> int(sel.mask.sum())
    1250
    """

    def __init__(self, kind: str, shape, *, points=None, ax=None):
        if kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
        self.kind = kind
        self.shape = tuple(int(n) for n in shape[-2:])
        self.ax = ax
        self.done = points is not None
        self.cancelled = False
        self._points = None if points is None else np.asarray(points, dtype=float).reshape(-1, 2)
        self._source: Callable[[], np.ndarray | None] | None = None
        self._keep: list = []  # widgets and callbacks that must live as long as the selection

    # ----------------------------------------------------------------- raw points
    def _raw(self) -> np.ndarray:
        points = self._source() if self._source is not None else self._points
        needed = {"box": 2, "line": 2, "polygon": 3, "ellipse": 2, "point": 1}[self.kind]
        if points is None or len(points) < needed:
            raise ValueError(
                f"the {self.kind} selection is empty: draw it on the image first"
                + (" (it was cancelled with escape)" if self.cancelled else "")
            )
        return np.asarray(points, dtype=float).reshape(-1, 2)

    @property
    def is_empty(self) -> bool:
        """True while nothing (or not enough) has been drawn."""
        try:
            self._raw()
        except ValueError:
            return True
        return False

    # ------------------------------------------------------------------- geometry
    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(xmin, xmax, ymin, ymax)`` in pixels, maxima exclusive (the form ``crop`` takes).

        For a box, the dragged corners rounded to the nearest pixel edge index
        (a drag from x = 25 to x = 75 keeps columns 25 to 74); for the other kinds,
        the bounding box of the shape.  Clipped to the image.
        """
        points = self._raw()
        if self.kind in ("line", "polygon", "point"):
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0) + 1
        else:
            (x0, y0), (x1, y1) = points[:2].min(axis=0), points[:2].max(axis=0)
        rows, cols = self.shape
        return (_edge(x0, cols), _edge(x1, cols), _edge(y0, rows), _edge(y1, rows))

    @property
    def line(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((x0, y0), (x1, y1))``: the two ends of a line selection, in (sub-)pixels."""
        if self.kind != "line":
            raise ValueError(f"a {self.kind} selection has no line; select one with image.select('line')")
        (x0, y0), (x1, y1) = self._raw()[:2]
        return ((float(x0), float(y0)), (float(x1), float(y1)))

    @property
    def vertices(self) -> np.ndarray:
        """``(n, 2)`` pixel ``(x, y)`` of the shape.

        The box's or polygon's corners, the line's ends, the points, or 64 points on the ellipse.
        """
        points = self._raw()
        if self.kind == "box":
            (x0, y0), (x1, y1) = points[:2]
            return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        if self.kind == "ellipse":
            (cx, cy), (rx, ry) = self._ellipse()
            t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            return np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)])
        return points.copy()

    @property
    def points(self) -> list[tuple[float, float]]:
        """The clicked points (a point selection) or the defining points, as ``(x, y)`` tuples."""
        return [(float(x), float(y)) for x, y in self._raw()]

    @property
    def centre(self) -> tuple[float, float]:
        """``(x, y)`` to centre on (what ``radial_profile(centre=sel)`` uses).

        The last point clicked, the centre of a box, ellipse or line, or the mean of a polygon's vertices.
        """
        points = self._raw()
        if self.kind == "point":
            x, y = points[-1]
        elif self.kind == "polygon":
            x, y = points.mean(axis=0)
        else:
            x, y = points[:2].mean(axis=0)
        return (float(x), float(y))

    def _ellipse(self):
        (x0, y0), (x1, y1) = self._raw()[:2]
        return ((x0 + x1) / 2, (y0 + y1) / 2), (abs(x1 - x0) / 2, abs(y1 - y0) / 2)

    @property
    def mask(self) -> np.ndarray:
        """A bool array of the image's shape, True inside the shape (on the line, at the points)."""
        from skimage import draw

        rows, cols = self.shape
        mask = np.zeros(self.shape, dtype=bool)
        if self.kind == "box":
            xmin, xmax, ymin, ymax = self.box
            mask[ymin:ymax, xmin:xmax] = True
        elif self.kind == "polygon":
            points = self._raw()
            mask[draw.polygon(points[:, 1], points[:, 0], shape=self.shape)] = True
        elif self.kind == "ellipse":
            (cx, cy), (rx, ry) = self._ellipse()
            if rx > 0 and ry > 0:
                mask[draw.ellipse(cy, cx, ry, rx, shape=self.shape)] = True
        else:
            points = np.floor(self._raw() + 0.5).astype(int)
            if self.kind == "line":
                rr, cc = draw.line(points[0, 1], points[0, 0], points[1, 1], points[1, 0])
            else:
                rr, cc = points[:, 1], points[:, 0]
            inside = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
            mask[rr[inside], cc[inside]] = True
        return mask

    def disconnect(self) -> None:
        """Remove the selector from its axes (the geometry drawn so far stays readable)."""
        points = None if self.is_empty else self._raw()
        for close in [k for k in self._keep if callable(getattr(k, "remove", None))]:
            close.remove()
        self._keep.clear()
        self._source = None
        self._points = points

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "done" if self.done else "open"
        if self.is_empty:
            return f"<Selection {self.kind}: empty, {state}>"
        what = {"box": lambda: self.box, "line": lambda: self.line}.get(self.kind, lambda: f"{len(self._raw())} points")
        return f"<Selection {self.kind}: {what()}, {state}>"


def as_mask(value, shape: tuple[int, ...]):
    """Turn what may be assigned to ``image.mask`` into what NumPy's mask setter takes.

    A :class:`Selection` gives its :attr:`~Selection.mask`, an image (ImageArray or
    ImageFile) its pixels that are not zero, and an array must broadcast to the
    image's shape (NumPy alone would repeat a wrong-sized array silently).
    """
    from ..array import ImageArray
    from ..imagefile import ImageFile

    if isinstance(value, Selection):
        if value.shape != tuple(shape[-2:]):
            raise ValueError(f"mask: the selection was made on a {value.shape} image, not one of shape {shape}")
        value = value.mask
    elif isinstance(value, (ImageArray, ImageFile)):
        value = np.asarray(value.data) != 0
    if value is np.ma.nomask or value is np.ma.masked or np.ndim(value) == 0:
        return value
    array = np.asarray(value)
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(f"mask: an array of shape {array.shape} does not fit an image of shape {shape}") from None
