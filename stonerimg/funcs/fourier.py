"""Fourier transforms and radial analysis: ``fft``, ``radial_coordinates``, ``radial_profile``.

Conventions kept by all three functions:

- Coordinates are ``(x, y)`` with ``x`` the column and ``y`` the row, as everywhere
  in stonerimg.  Distances and angles are measured in the image's own physical
  coordinates: ``X = pixel_size_x * (x - centre_x)``, ``Y = pixel_size_y * (y - centre_y)``.
- Angles are ``atan2(Y, X)`` in radians, in ``(-pi, pi]``: measured from the +x axis
  towards +y.  Because ``y`` (the row) grows downwards in a default display
  (``imshow`` with ``origin="upper"``), positive angles run *clockwise* on screen;
  with ``origin="lower"`` they run counter-clockwise.
- The pixel size defaults to the image calibration (``calibration.{x,y}.scale``),
  which is 1 for an uncalibrated image, so radii come out in physical units.
- Masked pixels are excluded from every statistic.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ..array import ImageArray
from ..metadata import Metadata
from ..notebook.selection import Selection
from ._binding import image_function

__all__ = ["RadialProfile", "fft", "radial_coordinates", "radial_profile"]


# ---------------------------------------------------------------- argument checks
def _check_2d(image: ImageArray, func: str) -> None:
    if image.ndim != 2:
        raise ValueError(f"image: {func} needs a 2-D image, not one of shape {image.shape}")


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _centre(image: ImageArray, centre) -> tuple[float, float]:
    """Return the centre ``(x, y)`` in pixels from ``None``, ``"origin"`` or an ``(x, y)`` pair."""
    default = image.centre
    if centre is None:
        return default
    if isinstance(centre, Selection):  # a point picked with image.select("point")
        return centre.centre
    if isinstance(centre, str):
        if centre != "origin":
            raise ValueError(f"centre: must be None, 'origin' or an (x, y) pair, not {centre!r}")
        cal = image.calibration
        return (-cal.x.offset / cal.x.scale, -cal.y.offset / cal.y.scale)
    try:
        cx, cy = centre
    except (TypeError, ValueError):
        raise TypeError(f"centre: must be None, 'origin' or an (x, y) pair, not {centre!r}") from None
    result = []
    for value, fallback, name in ((cx, default[0], "x"), (cy, default[1], "y")):
        if value is None:
            result.append(float(fallback))
        elif _is_real(value) and np.isfinite(value):
            result.append(float(value))
        else:
            raise TypeError(f"centre: {name} must be a finite number or None, not {value!r}")
    return (result[0], result[1])


def _pixel_size(image: ImageArray, pixel_size) -> tuple[float, float, str]:
    """Return ``(size_x, size_y, units)``; units are ``""`` when the size was given explicitly."""
    if pixel_size is None:
        cal = image.calibration
        if cal.x.units != cal.y.units:
            raise ValueError(
                f"pixel_size: the x and y calibrations have different units ({cal.x.units!r}, {cal.y.units!r}); "
                "a radius needs one unit: give pixel_size explicitly"
            )
        sizes, units = (cal.x.scale, cal.y.scale), cal.x.units
    else:
        if _is_real(pixel_size):
            sizes = (pixel_size, pixel_size)
        else:
            try:
                sizes = tuple(pixel_size)
            except TypeError:
                raise TypeError(f"pixel_size: must be a number or an (x, y) pair, not {pixel_size!r}") from None
            if len(sizes) != 2 or not all(_is_real(s) for s in sizes):
                raise TypeError(f"pixel_size: must be a number or an (x, y) pair, not {pixel_size!r}")
        units = ""
    sx, sy = (float(s) for s in sizes)
    if not (np.isfinite(sx) and np.isfinite(sy)) or sx == 0 or sy == 0:
        raise ValueError(f"pixel_size: must be finite and non-zero, not ({sx}, {sy})")
    return sx, sy, units


def _offsets(image: ImageArray, centre, pixel_size) -> tuple[np.ndarray, np.ndarray, float, float, str]:
    """Return the 1-D physical offsets ``X`` (columns) and ``Y`` (rows) from the centre, and the pixel size."""
    cx, cy = _centre(image, centre)
    sx, sy, units = _pixel_size(image, pixel_size)
    rows, cols = image.shape
    xs = sx * (np.arange(cols, dtype=np.float64) - cx)
    ys = sy * (np.arange(rows, dtype=np.float64) - cy)
    return xs, ys, sx, sy, units


# ----------------------------------------------------------------------------- fft
def _reciprocal_units(units: str) -> str:
    if units.startswith("1/"):
        inner = units[2:]
        return inner[1:-1] if inner.startswith("(") and inner.endswith(")") else inner
    return f"1/({units})" if any(c in units for c in " */^") else f"1/{units}"


def _window(window, shape: tuple[int, int]):
    """Return the window as ``(wy[:, None], wx[None, :])`` (separable) or one 2-D array."""
    if isinstance(window, np.ndarray):
        if window.shape != shape:
            raise ValueError(f"window: an array window must have the image's shape {shape}, not {window.shape}")
        return (np.asarray(window, dtype=np.float64),)
    if not isinstance(window, (str, tuple)):
        raise TypeError(f"window: must be a name such as 'hann', a (name, parameter) tuple or an array, not {window!r}")
    from scipy.signal import get_window

    try:
        wy = get_window(window, shape[0])
        wx = get_window(window, shape[1])
    except (ValueError, TypeError) as err:
        raise ValueError(f"window: {window!r} is not a window scipy.signal.get_window knows ({err})") from err
    return (wy[:, None], wx[None, :])


@image_function
def fft(
    image: ImageArray,
    shift: bool = True,
    phase: bool | None = False,
    remove_dc: bool = False,
    gaussian=None,
    window=None,
) -> ImageArray:
    """Compute the 2-D discrete Fourier transform of the image.

    Parameters
    ----------
    image : ImageArray
        A 2-D image (any real or complex dtype).
    shift : bool, default True
        Move the zero frequency to pixel ``(nx // 2, ny // 2)`` (``numpy.fft.fftshift``).
    phase : bool or None, default False
        ``False``: the magnitude ``abs(F)``; ``True``: the phase ``angle(F)`` in radians;
        ``None``: the complex transform itself.
    remove_dc : bool, default False
        Subtract the mean of the unmasked pixels before transforming, so the zero
        frequency does not swamp the rest of the spectrum.
    gaussian : float or (float, float), optional
        Blur the result with a Gaussian of this standard deviation in pixels
        (``(x, y)`` for different widths), with periodic boundaries since a spectrum
        is periodic (``scipy.ndimage.gaussian_filter(..., mode="wrap")``).
    window : str, tuple or ndarray, optional
        Multiply the image by a window before transforming, to reduce the leakage from
        the discontinuity at the image edges: a name or ``(name, parameter)`` tuple
        known to :func:`scipy.signal.get_window` (``"hann"``, ``("tukey", 0.3)``),
        applied separably as the outer product of the window along y and along x;
        or an array of the image's shape.

    Returns
    -------
    ImageArray
        The transform (float for the magnitude and the phase, complex for
        ``phase=None``), with the input's metadata, a reciprocal calibration and no mask.

    Notes
    -----
    *Masked pixels* are replaced by the mean of the unmasked pixels before the
    transform (so they add nothing but the DC term; with ``remove_dc`` they become 0).
    The order of operations is: fill masked pixels, subtract the mean (``remove_dc``),
    multiply by the window, transform, take magnitude or phase, shift, blur.

    *Calibration.*  With pixel size ``s`` (``calibration.x.scale``, 1 when
    uncalibrated) along an axis of ``N`` pixels, the frequency step is
    ``1 / (N * s)``: the result's ``calibration.x.scale`` is set to that, its units
    to ``"1/<units>"`` (``"1/px"`` uncalibrated) and its offset so that the zero
    frequency is at 0 — with ``shift=True`` pixel ``k`` is at frequency
    ``(k - N // 2) / (N * s)``, so a grating of period ``p`` gives peaks at
    ``+-1/p`` in calibrated units.  With ``shift=False`` the offset is 0 and the
    calibration is right for pixels ``k < N / 2`` only: the others hold the
    negative frequencies ``(k - N) / (N * s)``.

    The transform is :func:`scipy.fft.fft2` using every core; integer images are
    transformed in float64, float32 images in single precision (complex64).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(64)
    >>> im = ImageArray(np.tile(np.cos(2 * np.pi * x / 8), (32, 1)))  # period 8 px along x
    >>> spectrum = im.fft()
    >>> spectrum.shape
    (32, 64)
    >>> y, x = np.unravel_index(np.argsort(spectrum.data, axis=None)[-2:], spectrum.shape)
    >>> sorted(spectrum.calibration.x.to_physical(x).tolist()), y.tolist()
    ([-0.125, 0.125], [16, 16])
    >>> spectrum.calibration.x.units
    '1/px'
    """
    import scipy.fft

    _check_2d(image, "fft")
    if phase not in (True, False, None):
        raise TypeError(f"phase: must be True, False or None, not {phase!r}")
    data = np.asarray(image.data)
    if data.dtype.kind not in "biufc":
        raise TypeError(f"image: cannot transform an image of dtype {data.dtype}")
    if data.size == 0:
        raise ValueError("image: cannot transform an empty image")
    sigma = None
    if gaussian is not None:
        values = (gaussian, gaussian) if _is_real(gaussian) else gaussian
        if not isinstance(values, (tuple, list)) or len(values) != 2 or not all(_is_real(v) and v >= 0 for v in values):
            raise ValueError(f"gaussian: must be a non-negative width in pixels or an (x, y) pair, not {gaussian!r}")
        sigma = (float(values[1]), float(values[0]))  # (rows, cols)
    windows = None if window is None else _window(window, data.shape)

    mask = image._mask
    masked = mask is not np.ma.nomask and bool(mask.any())
    if masked:
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            raise ValueError("image: every pixel is masked; there is nothing to transform")
    work_dtype = data.dtype if data.dtype.kind in "fc" and data.dtype.itemsize >= 4 else np.dtype(np.float64)
    overwrite = False
    work = data
    if masked or remove_dc or windows is not None or work_dtype != data.dtype:
        work = data.astype(work_dtype, copy=True)
        overwrite = True
        if masked or remove_dc:
            # accumulate in double precision even for float32 data
            accumulator = np.complex128 if data.dtype.kind == "c" else np.float64
            fill = (data[~mask] if masked else data).mean(dtype=accumulator)
            if masked:
                np.copyto(work, fill, where=mask, casting="unsafe")
            if remove_dc:
                work -= fill
        if windows is not None:
            for w in windows:
                work *= w
    transform = scipy.fft.fft2(work, workers=-1, overwrite_x=overwrite)
    del work
    if phase is None:
        result = transform
    elif phase:
        result = np.angle(transform)
    else:
        result = np.abs(transform)
    del transform
    if shift:
        result = np.fft.fftshift(result)
    if sigma is not None and any(sigma):
        from scipy import ndimage

        result = ndimage.gaussian_filter(result, sigma=sigma, mode="wrap")

    out = image._derive(result, keep_mask=False)
    md = out._metadata
    rows, cols = data.shape
    for axis, n, cal in (("x", cols, image.calibration.x), ("y", rows, image.calibration.y)):
        step = 1.0 / (n * cal.scale)
        md[f"calibration.{axis}.scale"] = step
        md[f"calibration.{axis}.offset"] = -(n // 2) * step if shift else 0.0
        md[f"calibration.{axis}.units"] = _reciprocal_units(cal.units)
    return out


# --------------------------------------------------------------- radial coordinates
@image_function
def radial_coordinates(image: ImageArray, centre=None, pixel_size=None, angle: bool | None = False) -> ImageArray:
    """Return a map of each pixel's polar coordinates about a centre.

    Parameters
    ----------
    image : ImageArray
        A 2-D image (only its shape, calibration and mask are used).
    centre : (float, float), "origin" or None
        ``(x, y)`` of the centre in pixels (fractions allowed; ``None`` in either place
        takes the default for that axis).  Default: the middle of the image,
        ``image.centre = ((nx - 1) / 2, (ny - 1) / 2)``.  ``"origin"`` takes the
        pixel where the calibrated coordinates are 0 (for a shifted :func:`fft`,
        the zero frequency).
    pixel_size : float or (float, float), optional
        Physical size of a pixel ``(x, y)``.  Default: the calibration scales
        (1 when uncalibrated).
    angle : bool or None, default False
        ``False``: the distance ``r``; ``True``: the angle in radians; ``None``: both
        as one complex number ``X + iY``, so ``abs`` gives ``r`` and ``np.angle`` the angle.

    Returns
    -------
    ImageArray
        Float (or complex) map of the input's shape, with its metadata and mask.

    Notes
    -----
    ``X = pixel_size_x * (x - centre_x)`` and ``Y = pixel_size_y * (y - centre_y)``;
    ``r = hypot(X, Y)`` and the angle is ``atan2(Y, X)`` in ``(-pi, pi]``, measured from
    +x towards +y (the row direction), which is clockwise on a default
    (``origin="upper"``) display.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.zeros((3, 5)))
    >>> im.radial_coordinates().round(3).tolist()[0]
    [2.236, 1.414, 1.0, 1.414, 2.236]
    >>> float(im.radial_coordinates(centre=(2, 1), angle=True)[2, 2])  # the pixel below the centre: +y
    1.5707963267948966
    """
    _check_2d(image, "radial_coordinates")
    if angle not in (True, False, None):
        raise TypeError(f"angle: must be True, False or None, not {angle!r}")
    xs, ys, _, _, _ = _offsets(image, centre, pixel_size)
    if angle is None:
        result = xs[None, :] + 1j * ys[:, None]
    elif angle:
        result = np.arctan2(ys[:, None], xs[None, :])
    else:
        result = np.add.outer(ys * ys, xs * xs)
        np.sqrt(result, out=result)
    return image._derive(result)


# ------------------------------------------------------------------ radial profile
@dataclass(frozen=True, eq=False)
class RadialProfile:
    """The result of :func:`radial_profile`: statistics of the pixels in each radial bin.

    Attributes
    ----------
    r : ndarray
        Centre of each bin (mid-point of its edges).
    mean : ndarray
        Mean intensity of the unmasked pixels in each bin (NaN for an empty bin).
    std : ndarray
        Their standard deviation (population, ``ddof=0``; NaN for an empty bin).
    count : ndarray of int
        Number of pixels in each bin.
    edges : ndarray
        The ``len(r) + 1`` bin edges.
    r_units : str
        Units of ``r`` and ``edges`` (the calibration units, ``"px"`` uncalibrated,
        ``""`` when ``pixel_size`` was given explicitly).
    metadata : Metadata
        A copy of the image's metadata.
    """

    r: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray
    edges: np.ndarray
    r_units: str = "px"
    metadata: Metadata = field(default_factory=Metadata, repr=False)

    def __len__(self) -> int:
        return len(self.r)

    def to_numpy(self) -> np.ndarray:
        """Return the columns ``r, mean, std, count`` as one ``(n, 4)`` float array."""
        return np.column_stack((self.r, self.mean, self.std, self.count.astype(np.float64)))

    def _repr_html_(self) -> str:
        """Return the notebook view: a plot and the numbers (see :mod:`stonerimg.notebook.repr`)."""
        from ..notebook.repr import profile_html

        return profile_html(self)

    def _repr_png_(self) -> bytes | None:
        """Return a small plot of the profile."""
        from ..notebook.repr import profile_png

        return profile_png(self)

    def plot(self, ax=None, **kwargs):
        """Plot the mean against ``r`` with a band of one standard deviation; return the axes.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw (default: a new figure).
        **kwargs
            Passed to ``ax.plot`` for the mean.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        (line,) = ax.plot(self.r, self.mean, **kwargs)
        ax.fill_between(self.r, self.mean - self.std, self.mean + self.std, color=line.get_color(), alpha=0.25)
        ax.set_xlabel(f"r ({self.r_units})" if self.r_units else "r")
        ax.set_ylabel("mean intensity")
        return ax


def _parse_angle(angle):
    """Return ``None``, a float, or ``(start, span)`` with ``0 < span``."""
    if angle is None:
        return None
    if _is_real(angle):
        if not np.isfinite(angle):
            raise ValueError(f"angle: must be finite, not {angle!r}")
        return float(angle)
    if isinstance(angle, (tuple, list, np.ndarray)) and len(angle) == 2 and all(_is_real(a) for a in angle):
        start, stop = float(angle[0]), float(angle[1])
        if not (np.isfinite(start) and np.isfinite(stop)) or stop <= start:
            raise ValueError(f"angle: a range (start, stop) needs finite start < stop, not {tuple(angle)!r}")
        return (start, stop - start)
    raise TypeError(f"angle: must be None, a number or a (start, stop) pair in radians, not {angle!r}")


@image_function
def radial_profile(image: ImageArray, angle=None, r=None, centre=None, pixel_size=None) -> RadialProfile:
    """Average the image over rings about a centre: the mean, spread and count in each radial bin.

    Parameters
    ----------
    image : ImageArray
        A 2-D image.
    angle : None, float or (float, float)
        Which directions to include, in radians (see the module notes for the angle
        convention): ``None`` all of them; a number, the single direction at that
        angle — a strip one pixel wide (``min(pixel_size)``) running from the
        centre; ``(start, stop)``, the sector swept counter-clockwise in angle from
        ``start`` to ``stop`` (it may wrap past pi, e.g. ``(3 * pi / 4, 5 * pi / 4)``
        is the sector around -x; a span of 2 pi or more is everything).
    r : array_like or float, optional
        Bin edges in the units of the radius (physical units for a calibrated
        image), increasing; or a single number, the bin width.  Default: bins one
        pixel (``min(pixel_size)``) wide from 0 to beyond the furthest corner.
    centre : (float, float), "origin", Selection or None
        ``(x, y)`` of the centre in pixels; default the middle of the image.  See
        :func:`radial_coordinates` (``"origin"`` suits a shifted :func:`fft`).  A
        point picked with ``image.select("point")`` gives its last point.
    pixel_size : float or (float, float), optional
        Physical size of a pixel ``(x, y)``; default the calibration scales.

    Returns
    -------
    RadialProfile
        Frozen dataclass with arrays ``r`` (bin centres), ``mean``, ``std``, ``count``
        and ``edges``, the units ``r_units``, and ``to_numpy()`` / ``plot()``.

    Notes
    -----
    Bins are half-open, ``edges[k] <= r < edges[k + 1]``, except the last, which
    also takes its upper edge (as :func:`numpy.histogram`).  Pixels outside the
    edges, outside the angular selection and masked pixels are left out; a bin with
    no pixels has ``count`` 0 and NaN mean and std.  The pixel at the centre itself
    (``r = 0``) belongs to every direction.  NaN pixels are not skipped (mask them).
    With equally spaced edges a pixel's bin is computed as
    ``floor((r - edges[0]) / width)``, so a pixel lying exactly on an edge may, by
    floating-point rounding, fall either side.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[:101, :101]
    >>> im = ImageArray(np.hypot(x - 50, y - 50))  # intensity = distance from the centre
    >>> profile = im.radial_profile(r=np.arange(0, 50, 10))
    >>> profile.r.tolist(), profile.mean.round(1).tolist()
    ([5.0, 15.0, 25.0, 35.0], [6.6, 15.4, 25.2, 35.2])
    >>> profile.count.tolist()  # about pi (r2**2 - r1**2) pixels per ring
    [305, 940, 1564, 2216]
    >>> profile.to_numpy().shape
    (4, 4)
    """
    _check_2d(image, "radial_profile")
    if image.dtype.kind not in "biuf":
        raise TypeError(f"image: cannot take a radial profile of an image of dtype {image.dtype}")
    if image.size == 0:
        raise ValueError("image: cannot take a radial profile of an empty image")
    angle = _parse_angle(angle)
    xs, ys, sx, sy, units = _offsets(image, centre, pixel_size)
    pixel = min(abs(sx), abs(sy))

    # --- bin edges
    corners_r = float(np.sqrt(max(xs[0] ** 2, xs[-1] ** 2) + max(ys[0] ** 2, ys[-1] ** 2)))
    if r is None or _is_real(r):
        width = pixel if r is None else float(r)
        if not (np.isfinite(width) and width > 0):
            raise ValueError(f"r: a bin width must be positive, not {r!r}")
        nbins = int(np.floor(corners_r / width)) + 1
        edges = width * np.arange(nbins + 1, dtype=np.float64)
        uniform, first = True, 0.0
    else:
        edges = np.asarray(r, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2:
            raise ValueError(f"r: bin edges must be a 1-D sequence of at least 2 values, not shape {edges.shape}")
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError("r: bin edges must be finite and strictly increasing")
        nbins = edges.size - 1
        steps = np.diff(edges)
        width = float(steps.mean())
        uniform = bool(np.allclose(steps, width, rtol=1e-12, atol=0))
        first = float(edges[0])

    # --- bin index of every pixel; pixels left out go to the overflow bin ``nbins``
    dist = np.add.outer(ys * ys, xs * xs)
    np.sqrt(dist, out=dist)
    keep = None if angle is None else _angle_selection(xs, ys, dist, angle, pixel)
    if uniform:
        if first:
            dist -= first
        dist /= width  # in place: ``dist`` now counts bin widths from the first edge
        index = dist.astype(np.intp)
        if r is not None and not _is_real(r):  # user edges may not reach from the centre to the corners
            index[dist == nbins] = nbins - 1  # the last bin holds its upper edge
            np.copyto(index, nbins, where=(dist < 0) | (dist > nbins))
    else:
        index = np.searchsorted(edges, dist, side="right") - 1
        index[dist == edges[-1]] = nbins - 1
        np.copyto(index, nbins, where=index < 0)
    del dist
    if keep is not None:
        np.copyto(index, nbins, where=~keep)
    mask = image._mask
    if mask is not np.ma.nomask:
        np.copyto(index, nbins, where=np.asarray(mask, dtype=bool))

    # --- statistics: two passes (mean, then squared deviations) for an accurate std
    index = index.ravel()
    values = np.asarray(image.data).ravel()
    if values.dtype != np.float64:
        values = values.astype(np.float64)
    count = np.bincount(index, minlength=nbins + 1)
    total = np.bincount(index, weights=values, minlength=nbins + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[nbins] = 0.0
    deviation = np.take(mean, index)
    np.subtract(values, deviation, out=deviation)
    np.square(deviation, out=deviation)
    spread = np.bincount(index, weights=deviation, minlength=nbins + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(spread / count)
    count = count[:nbins]
    return RadialProfile(
        r=(edges[:-1] + edges[1:]) / 2,
        mean=mean[:nbins],
        std=std[:nbins],
        count=count,
        edges=edges,
        r_units=units,
        metadata=image._metadata.copy(),
    )


def _angle_selection(xs: np.ndarray, ys: np.ndarray, dist: np.ndarray, angle, pixel: float) -> np.ndarray:
    """Return the boolean map of pixels in the direction (a float) or sector (start, span)."""
    if isinstance(angle, float):
        c, s = np.cos(angle), np.sin(angle)
        across = np.add.outer(c * ys, -s * xs)  # signed distance from the ray's line
        along = np.add.outer(s * ys, c * xs)
        half = pixel / 2
        return ((across > -half) & (across <= half) & (along >= 0)) | (dist == 0)
    start, span = angle
    if span >= 2 * np.pi:
        return np.ones(dist.shape, dtype=bool)
    theta = np.arctan2(ys[:, None], xs[None, :])
    theta -= start
    np.mod(theta, 2 * np.pi, out=theta)
    return (theta <= span) | (dist == 0)
