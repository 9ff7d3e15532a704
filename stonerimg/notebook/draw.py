"""``image.draw`` and ``image.mask.draw``: scikit-image's shapes drawn into an image or its mask.

Coordinates are scikit-image's: ``(r, c)`` = ``(row, column)`` = ``(y, x)``, and a
shape outside the image is clipped to it.  Every shape takes ``value=`` (what to draw
with) and ``shape=`` (the canvas the shape is clipped to; default the image's last
two axes).  A stack ``(n, y, x)`` gets the shape on every frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["DrawProxy"]


def _skdraw():
    from skimage import draw

    return draw


class DrawProxy:
    """Draw scikit-image shapes into an image (``image.draw``) or its mask (``image.mask.draw``).

    Parameters
    ----------
    shape : (rows, cols)
        The canvas: the image's last two axes.
    paint : callable
        ``paint(rr, cc, value, weights)`` writes ``value`` at the pixels ``(rr, cc)``
        (``weights`` in 0..1 for the anti-aliased shapes, else None).
    finish : callable
        ``finish(name, args, kwargs)`` records the history entry and returns what the
        drawing call returns (the image, the ImageFile or the mask).
    default_value : number or bool
        The value drawn when ``value=`` is not given.

    Examples
    --------
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> im = ImageArray(np.zeros((5, 7)))
    >>> im.draw.rectangle(2, 3, 3, 1, value=9) is im
    True
    >>> im.data[2].tolist()
    [0.0, 0.0, 9.0, 9.0, 9.0, 0.0, 0.0]
    >>> im["history"]
    ['draw.rectangle(2, 3, 3, 1, value=9)']
    """

    def __init__(self, shape: tuple[int, int], paint: Callable, finish: Callable, default_value=1):
        self._shape = tuple(int(n) for n in shape)
        self._paint = paint
        self._finish = finish
        self._default = default_value

    def __repr__(self) -> str:
        return f"<draw proxy on a {self._shape[1]} x {self._shape[0]} canvas>"

    # ------------------------------------------------------------------ machinery
    def _canvas(self, shape) -> tuple[int, int]:
        return self._shape if shape is None else tuple(int(n) for n in shape)

    def _draw(self, name: str, args: tuple, kwargs: dict, pixels, value, weights=None):
        rr, cc = (np.asarray(p, dtype=np.intp).ravel() for p in pixels)
        rows, cols = self._shape
        inside = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        if weights is not None:
            weights = np.asarray(weights, dtype=float).ravel()[inside]
        self._paint(rr[inside], cc[inside], self._default if value is None else value, weights)
        if value is not None:
            kwargs = {**kwargs, "value": value}
        return self._finish(name, args, kwargs)

    @staticmethod
    def _options(shape, **extra) -> dict:
        return {k: v for k, v in {"shape": shape, **extra}.items() if v is not None}

    # ---------------------------------------------------- scikit-image's own shapes
    def line(self, r0: int, c0: int, r1: int, c1: int, *, value=None):
        """Draw the line from ``(r0, c0)`` to ``(r1, c1)`` (:func:`skimage.draw.line`)."""
        return self._draw("line", (r0, c0, r1, c1), {}, _skdraw().line(r0, c0, r1, c1), value)

    def line_aa(self, r0: int, c0: int, r1: int, c1: int, *, value=None):
        """Draw an anti-aliased line (:func:`skimage.draw.line_aa`): pixels are blended by coverage."""
        rr, cc, weights = _skdraw().line_aa(r0, c0, r1, c1)
        return self._draw("line_aa", (r0, c0, r1, c1), {}, (rr, cc), value, weights)

    def polygon(self, r, c, *, shape=None, value=None):
        """Fill the polygon with vertex rows ``r`` and columns ``c`` (:func:`skimage.draw.polygon`)."""
        pixels = _skdraw().polygon(np.asarray(r, float), np.asarray(c, float), shape=self._canvas(shape))
        return self._draw("polygon", (r, c), self._options(shape), pixels, value)

    def polygon_perimeter(self, r, c, *, shape=None, clip: bool = False, value=None):
        """Draw the outline of a polygon (:func:`skimage.draw.polygon_perimeter`)."""
        pixels = _skdraw().polygon_perimeter(
            np.asarray(r, float), np.asarray(c, float), shape=self._canvas(shape), clip=clip
        )
        return self._draw("polygon_perimeter", (r, c), self._options(shape), pixels, value)

    def disk(self, center, radius: float, *, shape=None, value=None):
        """Fill the disk of ``radius`` about ``center = (r, c)`` (:func:`skimage.draw.disk`)."""
        pixels = _skdraw().disk(tuple(center), radius, shape=self._canvas(shape))
        return self._draw("disk", (tuple(center), radius), self._options(shape), pixels, value)

    def circle(self, r: float, c: float, radius: float, *, shape=None, value=None):
        """Fill the disk of ``radius`` about ``(r, c)`` (Stoner's name for :func:`skimage.draw.disk`)."""
        pixels = _skdraw().disk((r, c), radius, shape=self._canvas(shape))
        return self._draw("circle", (r, c, radius), self._options(shape), pixels, value)

    def circle_perimeter(self, r: int, c: int, radius: int, *, method: str = "bresenham", shape=None, value=None):
        """Draw the outline of a circle (:func:`skimage.draw.circle_perimeter`)."""
        pixels = _skdraw().circle_perimeter(r, c, radius, method=method, shape=self._canvas(shape))
        return self._draw("circle_perimeter", (r, c, radius), self._options(shape), pixels, value)

    def circle_perimeter_aa(self, r: int, c: int, radius: int, *, shape=None, value=None):
        """Draw an anti-aliased circle outline (:func:`skimage.draw.circle_perimeter_aa`)."""
        rr, cc, weights = _skdraw().circle_perimeter_aa(r, c, radius, shape=self._canvas(shape))
        return self._draw("circle_perimeter_aa", (r, c, radius), self._options(shape), (rr, cc), value, weights)

    def ellipse(self, r: float, c: float, r_radius: float, c_radius: float, *, shape=None, rotation=0.0, value=None):
        """Fill an ellipse (:func:`skimage.draw.ellipse`; ``rotation`` in radians)."""
        pixels = _skdraw().ellipse(r, c, r_radius, c_radius, shape=self._canvas(shape), rotation=rotation)
        options = self._options(shape, rotation=rotation or None)
        return self._draw("ellipse", (r, c, r_radius, c_radius), options, pixels, value)

    def ellipse_perimeter(
        self, r: int, c: int, r_radius: int, c_radius: int, *, orientation=0.0, shape=None, value=None
    ):
        """Draw the outline of an ellipse (:func:`skimage.draw.ellipse_perimeter`)."""
        pixels = _skdraw().ellipse_perimeter(
            r, c, r_radius, c_radius, orientation=orientation, shape=self._canvas(shape)
        )
        options = self._options(shape, orientation=orientation or None)
        return self._draw("ellipse_perimeter", (r, c, r_radius, c_radius), options, pixels, value)

    def bezier_curve(self, r0, c0, r1, c1, r2, c2, weight: float, *, shape=None, value=None):
        """Draw a quadratic Bézier curve (:func:`skimage.draw.bezier_curve`)."""
        pixels = _skdraw().bezier_curve(r0, c0, r1, c1, r2, c2, weight, shape=self._canvas(shape))
        return self._draw("bezier_curve", (r0, c0, r1, c1, r2, c2, weight), self._options(shape), pixels, value)

    # ------------------------------------------------------------ Stoner's shapes
    @staticmethod
    def _corners(r: float, c: float, w: float, h: float, angle: float) -> np.ndarray:
        """Return the corners ``(row, col)`` of a ``w`` (columns) by ``h`` (rows) rectangle about ``(r, c)``, turned."""
        corners = np.array(
            [[r - h / 2, c - w / 2], [r - h / 2, c + w / 2], [r + h / 2, c + w / 2], [r + h / 2, c - w / 2]]
        )
        if angle:
            centre = np.array([r, c], dtype=float)
            turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            corners = centre + (corners - centre) @ turn.T
        return corners

    def rectangle(self, r: float, c: float, w: float, h: float, angle: float = 0.0, *, shape=None, value=None):
        """Fill a rectangle centred on ``(r, c)``, ``w`` wide (columns) and ``h`` high (rows).

        Parameters
        ----------
        r, c : float
            Row and column of the centre.
        w, h : float
            Width along the columns and height along the rows: the corners are at
            ``r -/+ h/2`` and ``c -/+ w/2`` before turning.
        angle : float, default 0
            Turn about the centre, in radians (Stoner's convention: the corner
            offsets ``(dr, dc)`` are multiplied by ``[[cos, -sin], [sin, cos]]``).
        shape : (rows, cols), optional
            The canvas to clip to (default the image).
        value : number, optional
            What to draw with (default 1 for an image, True for a mask).

        Notes
        -----
        This is Stoner's rectangle, not scikit-image's ``rectangle(start, end)``:
        the pixels filled are those of :func:`skimage.draw.polygon` through the
        four corners.
        """
        corners = self._corners(r, c, w, h, angle)
        pixels = _skdraw().polygon(corners[:, 0], corners[:, 1], shape=self._canvas(shape))
        options = self._options(shape, angle=angle or None)
        return self._draw("rectangle", (r, c, w, h), options, pixels, value)

    def rectangle_perimeter(
        self, r: float, c: float, w: float, h: float, angle: float = 0.0, *, shape=None, value=None
    ):
        """Draw the outline of :meth:`rectangle` (the same corners, :func:`skimage.draw.polygon_perimeter`)."""
        corners = self._corners(r, c, w, h, angle)
        pixels = _skdraw().polygon_perimeter(corners[:, 0], corners[:, 1], shape=self._canvas(shape), clip=True)
        options = self._options(shape, angle=angle or None)
        return self._draw("rectangle_perimeter", (r, c, w, h), options, pixels, value)

    def square(self, r: float, c: float, w: float, angle: float = 0.0, *, shape=None, value=None):
        """Fill a square of side ``w`` centred on ``(r, c)``, turned by ``angle`` radians (see :meth:`rectangle`)."""
        corners = self._corners(r, c, w, w, angle)
        pixels = _skdraw().polygon(corners[:, 0], corners[:, 1], shape=self._canvas(shape))
        options = self._options(shape, angle=angle or None)
        return self._draw("square", (r, c, w), options, pixels, value)

    def annulus(self, r: float, c: float, radius1: float, radius2: float, *, shape=None, value=None):
        """Fill the ring between two circles about ``(r, c)``.

        With ``radius2 >= radius1`` the ring ``radius1 < distance <= radius2`` (the
        pixels of ``disk(radius2)`` that are not in ``disk(radius1)``) is filled.
        With ``radius2 < radius1`` the sense inverts: the ring between them stays
        clear and everything else is filled.
        """
        canvas = self._canvas(shape)
        inner, outer = sorted((radius1, radius2))
        ring = np.zeros(canvas, dtype=bool)
        ring[_skdraw().disk((r, c), outer, shape=canvas)] = True
        ring[_skdraw().disk((r, c), inner, shape=canvas)] = False
        if radius2 < radius1:
            ring = ~ring
        return self._draw("annulus", (r, c, radius1, radius2), self._options(shape), np.nonzero(ring), value)


def record(image, name: str, args: tuple, kwargs: dict) -> None:
    """Append the history entry ``name(args, kwargs)`` to ``image.metadata["history"]``."""
    from ..funcs._binding import _history_entry

    history = list(image.metadata.get("history", []))
    history.append(_history_entry(name, args, kwargs))
    image.metadata["history"] = history


def image_draw(image, returns) -> DrawProxy:
    """Return the :class:`DrawProxy` that draws into the pixels of ``image`` and returns ``returns``.

    The pixels are written in place (the mask is left as it is); a stack gets the
    shape on every frame.  Each call appends ``draw.<shape>(...)`` to the history.
    """

    def paint(rr, cc, value, weights):
        data = image.data
        if weights is None:
            data[..., rr, cc] = value
        else:
            blended = data[..., rr, cc] * (1.0 - weights) + value * weights
            if data.dtype.kind in "iub":
                blended = np.rint(blended)
            data[..., rr, cc] = blended.astype(data.dtype)

    def finish(name, args, kwargs):
        record(image, f"draw.{name}", args, kwargs)
        return returns

    return DrawProxy(image.shape[-2:], paint, finish, default_value=1)
