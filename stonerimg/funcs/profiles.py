"""Line profiles: intensity sampled along a line, with physical distances from the calibration.

:func:`profile_line` wraps :func:`skimage.measure.profile_line` and returns a
:class:`Profile`: the samples' pixel coordinates, their distance from the start
in physical units, the interpolated values and which samples touch masked pixels.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..array import AxisCalibration, ImageArray
from ..metadata import Metadata
from ..notebook.selection import Selection
from ._binding import image_function

__all__ = ["Profile", "profile_line"]

#: Boundary modes of ``scipy.ndimage.map_coordinates`` (what scikit-image passes on).
_MODES = ("constant", "nearest", "reflect", "mirror", "wrap", "grid-constant", "grid-mirror", "grid-wrap")
#: Modes for which sampling a window around the line is exactly sampling the whole image
#: (with order <= 1): outside points are the constant or clamped to the edge, never reflected.
_LOCAL_MODES = ("constant", "grid-constant", "nearest")
#: Mask weights below this are rounding noise of the interpolation, not a masked neighbour.
_MASK_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class Profile:
    """A line profile: one entry per sample along the line.

    Attributes
    ----------
    distance : ndarray
        Distance of each sample from the first one, in :attr:`units`.
    x, y : ndarray
        Pixel coordinates (column, row) of each sample on the line's centre.
    value : ndarray
        The interpolated intensity (averaged across ``linewidth``); NaN where
        the sample touches a masked pixel.
    mask : ndarray of bool
        True where the sample touches a masked pixel.
    units : str
        Units of :attr:`distance` (``"px"`` for an uncalibrated image).
    metadata : Metadata
        A copy of the image's metadata.
    """

    distance: np.ndarray
    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    mask: np.ndarray
    units: str = "px"
    metadata: Metadata = field(default_factory=Metadata, repr=False)

    def __len__(self) -> int:
        return len(self.value)

    def to_numpy(self) -> np.ndarray:
        """Return the profile as an ``(n, 4)`` array with columns ``x, y, distance, value``.

        The column order is that of the Stoner package's profile data
        (``X, Y, Distance, Intensity``).
        """
        return np.column_stack([self.x, self.y, self.distance, self.value])

    def _repr_html_(self) -> str:
        """Return the notebook view: a plot and the numbers (see :mod:`stonerimg.notebook.repr`)."""
        from ..notebook.repr import profile_html

        return profile_html(self)

    def _repr_png_(self) -> bytes | None:
        """Return a small plot of the profile."""
        from ..notebook.repr import profile_png

        return profile_png(self)

    def plot(self, ax=None, **kwargs):
        """Plot value against distance and return the ``Line2D``.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to plot; by default a new :mod:`matplotlib.pyplot` figure.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        matplotlib.lines.Line2D
            The line (its axes is ``line.axes``); masked samples (NaN) are gaps.
        """
        if ax is None:  # a new figure, as imshow and RadialProfile.plot make: never over the previous plot
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        (line,) = ax.plot(self.distance, self.value, **kwargs)
        ax.set_xlabel(f"distance ({self.units})")
        ax.set_ylabel("intensity")
        return line


def _pixel(value, cal: AxisCalibration, name: str, no_scale: bool) -> float:
    """One coordinate in pixels: an int is a pixel, a float is physical (unless ``no_scale``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: coordinates must be ints (pixels) or floats (physical), not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: coordinates must be finite, not {value!r}")
    if isinstance(value, numbers.Integral) or no_scale:
        return float(value)
    if cal.scale == 0:
        raise ValueError(f"{name}: the calibration scale is 0, so {value!r} {cal.units} has no pixel position")
    return (float(value) - cal.offset) / cal.scale


def _point(point, calibration, name: str, no_scale: bool) -> tuple[float, float]:
    if isinstance(point, (numbers.Real, np.number)) and not isinstance(point, (bool, np.bool_)):
        point = (point, point)  # a single number is the point (v, v), as the Stoner package reads it
    if isinstance(point, (str, bytes)) or not hasattr(point, "__len__") or len(point) != 2:
        raise TypeError(f"{name} must be an (x, y) pair, not {point!r}")
    return (
        _pixel(point[0], calibration.x, name, no_scale),
        _pixel(point[1], calibration.y, name, no_scale),
    )


def _clip_line(src, dst, width: int, height: int):
    """Shorten the segment src-dst to its part inside ``[0, width-1] x [0, height-1]`` (Liang-Barsky)."""
    t0, t1 = 0.0, 1.0
    for start, end, high in ((src[0], dst[0], width - 1), (src[1], dst[1], height - 1)):
        delta = end - start
        if delta == 0:
            if not 0 <= start <= high:
                return None
            continue
        ta, tb = (0 - start) / delta, (high - start) / delta
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    if t0 > t1:
        return None

    def at(t):
        if t == 0.0:
            return src
        if t == 1.0:
            return dst
        point = (src[0] + t * (dst[0] - src[0]), src[1] + t * (dst[1] - src[1]))
        return (min(max(point[0], 0.0), width - 1.0), min(max(point[1], 0.0), height - 1.0))

    return at(t0), at(t1)


def _window(shape, src, dst, linewidth: int, order: int, mode: str):
    """Row and column slices that hold every pixel the profile reads, or None for the whole image.

    Sampling only the window gives exactly the same values as sampling the whole
    image when the interpolation is local (order <= 1) and points outside the
    image are a constant or the nearest edge pixel (not a reflection of pixels
    far away).
    """
    if order > 1 or mode not in _LOCAL_MODES:
        return None
    half = (linewidth - 1) / 2
    slices = []
    for axis, size in ((1, shape[0]), (0, shape[1])):
        low = math.floor(min(src[axis], dst[axis]) - half) - 1
        high = math.ceil(max(src[axis], dst[axis]) + half) + 2
        low = min(max(low, 0), size - 1)
        high = min(max(high, low + 1), size)
        slices.append(slice(low, high))
    return tuple(slices)


def _distance_scale(calibration, src, dst, no_scale: bool) -> tuple[float, float, str]:
    """``(x scale, y scale, units)`` for the distance along the line."""
    if no_scale:
        return 1.0, 1.0, "px"
    cal_x, cal_y = calibration
    if cal_x.units == cal_y.units:
        return cal_x.scale, cal_y.scale, cal_x.units
    if src[1] == dst[1]:  # along x only: x's units apply
        return cal_x.scale, 0.0, cal_x.units
    if src[0] == dst[0]:
        return 0.0, cal_y.scale, cal_y.units
    return 1.0, 1.0, "px"  # an oblique line across axes of different units has no physical length


@image_function
def profile_line(
    image: ImageArray,
    src=None,
    dst=None,
    linewidth: int = 1,
    order: int | None = None,
    mode: str = "constant",
    cval: float = 0.0,
    constrain: bool = True,
    *,
    x=None,
    y=None,
    no_scale: bool = False,
    **kwargs,
) -> Profile:
    """Sample the image along a straight line.

    Parameters
    ----------
    image : ImageArray
        A 2-D image.
    src, dst : (x, y), optional
        Start and end of the line; both are included in the profile.  A line
        :class:`~stonerimg.notebook.selection.Selection` as ``src`` gives both
        ends, in pixels.  Each
        coordinate is read by its type (the Stoner rule):

        - an ``int`` (Python or NumPy integer) is a **pixel** coordinate, pixel
          centres at integers (column ``x``, row ``y``);
        - a ``float`` is a **physical** coordinate in the image's calibrated
          units, converted with ``pixel = (value - offset) / scale`` using
          ``image.calibration``.  A float is physical even when it is integral:
          ``10.0`` means 10 µm on a 0.5 µm/pixel image, i.e. pixel 20.

        The two coordinates of a point are read separately, so ``(10, 2.5)``
        is column 10 at a physical height of 2.5.  A single number ``v`` is the
        point ``(v, v)`` on the diagonal, as the Stoner package reads it.  On an uncalibrated image
        (scale 1, offset 0) floats are simply sub-pixel positions.  With no line
        at all (no ``src``, ``dst``, ``x`` or ``y``) the image is shown and the
        line is drawn with the mouse (finished with enter), as in Stoner; where
        nothing can wait (a notebook, a non-interactive backend) that is a
        RuntimeError pointing to ``image.profile_line(image.select("line"))``.
        ``x=``/``y=`` give a whole column or row.
    linewidth : int, default 1
        Width of the line in pixels: the values across the width are averaged.
    order : int, optional
        Spline interpolation order, 0 to 5; by default 0 for a boolean image and
        1 (linear) otherwise.
    mode : str, default "constant"
        How points outside the image are computed (a boundary mode of
        :func:`scipy.ndimage.map_coordinates`: ``"constant"``, ``"nearest"``,
        ``"reflect"``, ``"mirror"``, ``"wrap"``, ...).
    cval : float, default 0
        The value outside the image when ``mode="constant"``.
    constrain : bool, default True
        Shorten the line to the part that lies inside the image (keeping its
        direction), so no sample comes from outside.
    x, y : int or float, optional
        Shortcuts for a whole column (``x=``, a vertical line from top to bottom)
        or a whole row (``y=``, a horizontal line from left to right); int pixel
        or float physical, as above.  Not with ``src``/``dst``.
    no_scale : bool, default False
        Read every coordinate as a pixel (floats are sub-pixel positions) and give
        the distance in pixels.
    **kwargs
        Passed to :func:`skimage.measure.profile_line` (e.g. ``reduce_func``).

    Returns
    -------
    Profile
        ``distance`` (physical, in ``units``), ``x``, ``y`` (pixel coordinates of
        each sample), ``value`` and ``mask``; ``to_numpy()`` and ``plot()``.

    Raises
    ------
    ValueError
        If only one of ``src`` and ``dst`` is given, if the line misses the image
        (with ``constrain``), or for a bad ``linewidth``, ``order`` or ``mode``.
    TypeError
        If a point is not an ``(x, y)`` pair of numbers.

    Notes
    -----
    The number of samples is that of scikit-image: ``ceil(length + 1)`` for a
    line ``length`` pixels long, evenly spaced from ``src`` to ``dst``.

    The distance is ``hypot(dx * scale_x, dy * scale_y)``.  When the x and y
    units differ it uses the units of the axis a horizontal or vertical line
    runs along; an oblique line across axes of different units gets its length
    in pixels (``units == "px"``).

    Integer and boolean images are interpolated in floating point (scikit-image
    alone would round the interpolated values to the image's integer type);
    only the pixels around the line are converted when the interpolation is
    local (``order`` <= 1 and ``mode`` "constant" or "nearest").

    **Masks.** The mask is sampled along the same line: a sample is masked (its
    ``value`` is NaN and ``mask`` is True) when any masked pixel contributes to
    it, i.e. lies among the nearest pixel (order 0) or the 2 x 2 neighbours used
    by linear interpolation (order >= 1), anywhere across the line's width.
    Points outside the image are masked as ``mode`` extends the mask: never with
    "constant", like the nearest edge pixel with "nearest", and so on.

    Differences from Stoner: the end points are clipped to the image as a
    line (Stoner clamps each coordinate, which turns an oblique line), the
    default line is the centre row instead of an interactive selection, and
    the result is a :class:`Profile` instead of a ``Data`` object.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.arange(50.0).reshape(5, 10)).set_calibration(0.5, "nm")
    >>> p = im.profile_line((0, 1), (4, 1))  # ints: pixels
    >>> p.value.tolist(), p.distance.tolist(), p.units
    ([10.0, 11.0, 12.0, 13.0, 14.0], [0.0, 0.5, 1.0, 1.5, 2.0], 'nm')
    >>> im.profile_line((0.0, 0.5), (2.0, 0.5)).value.tolist()  # floats: nm
    [10.0, 11.0, 12.0, 13.0, 14.0]
    """
    from skimage import measure

    if image.ndim != 2:
        raise ValueError(f"image: profile_line needs a 2-D image, not one of shape {image.shape}")
    height, width = image.shape
    if height == 0 or width == 0:
        raise ValueError(f"image: cannot take a profile of an empty {width} x {height} image")
    if isinstance(linewidth, bool) or not isinstance(linewidth, numbers.Integral) or linewidth < 1:
        raise ValueError(f"linewidth: must be an int >= 1, not {linewidth!r}")
    data = np.asarray(image.data)
    if order is None:
        order = 0 if data.dtype == bool else 1
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or not 0 <= order <= 5:
        raise ValueError(f"order: must be an int from 0 to 5, not {order!r}")
    if mode not in _MODES:
        raise ValueError(f"mode: must be one of {', '.join(_MODES)}, not {mode!r}")
    if kwargs.get("reduce_func", np.mean) is None:
        raise ValueError("reduce_func: None gives a 2-D array; call skimage.measure.profile_line for that")

    calibration = image.calibration
    if x is not None or y is not None:
        if src is not None or dst is not None:
            raise ValueError("x, y: give either x= or y=, or src and dst, not both")
        if x is not None and y is not None:
            raise ValueError("x, y: give x= (a column) or y= (a row), not both")
        if x is not None:
            column = _pixel(x, calibration.x, "x", no_scale)
            src, dst = (column, 0.0), (column, height - 1.0)
        else:
            row = _pixel(y, calibration.y, "y", no_scale)
            src, dst = (0.0, row), (width - 1.0, row)
    elif isinstance(src, Selection):  # a line picked with image.select("line"), in pixels
        if dst is not None:
            raise ValueError("src, dst: a line selection gives both ends; do not pass dst")
        src, dst = src.line
    elif src is None and dst is None:  # Stoner's form: the line is drawn with the mouse
        from ..notebook.select import by_hand

        src, dst = by_hand(image, "line", "profile_line()").line
    elif src is None or dst is None:
        raise ValueError("src, dst: give both ends of the line (or neither, to draw it with the mouse)")
    else:
        src = _point(src, calibration, "src", no_scale)
        dst = _point(dst, calibration, "dst", no_scale)

    if constrain:
        clipped = _clip_line(src, dst, width, height)
        if clipped is None:
            raise ValueError(
                f"src, dst: the line from {src} to {dst} (pixels) does not cross the {width} x {height} image"
            )
        src, dst = clipped

    n = int(np.ceil(np.hypot(dst[0] - src[0], dst[1] - src[1]) + 1))
    xs = np.linspace(src[0], dst[0], n)
    ys = np.linspace(src[1], dst[1], n)
    sx, sy, units = _distance_scale(calibration, src, dst, no_scale)
    distance = np.hypot((xs - xs[0]) * sx, (ys - ys[0]) * sy)

    options = {"linewidth": int(linewidth), "order": int(order), "mode": mode, "cval": cval}
    window = _window(data.shape, src, dst, linewidth, order, mode)

    def sample(array, **extra):
        """Profile of ``array`` (the image's shape) or of its window, in floating point."""
        start, end = (src[1], src[0]), (dst[1], dst[0])  # scikit-image wants (row, col)
        if window is not None:
            array = array[window]
            start = (start[0] - window[0].start, start[1] - window[1].start)
            end = (end[0] - window[0].start, end[1] - window[1].start)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        return measure.profile_line(array, start, end, **{**options, **kwargs, **extra})

    if data.dtype.kind in "biu":
        value = sample(data)
    else:  # floats and complex go in as they are, without a copy or a shift
        value = measure.profile_line(data, (src[1], src[0]), (dst[1], dst[0]), **options, **kwargs)

    masked = np.zeros(n, dtype=bool)
    image_mask = np.ma.getmask(image)
    if image_mask is not np.ma.nomask and (image_mask if window is None else image_mask[window]).any():
        weights = sample(image_mask, order=min(order, 1), cval=0.0, reduce_func=np.max)
        masked = weights > _MASK_TOLERANCE
        if masked.any():
            value = np.where(masked, np.nan, value)

    return Profile(
        distance=distance,
        x=xs,
        y=ys,
        value=np.asarray(value),
        mask=masked,
        units=units,
        metadata=image.metadata.copy(),
    )
