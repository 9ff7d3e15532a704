"""Filters: total-variation denoising, Gaussian and Savitzky-Golay smoothing, levelling.

Every filter here keeps the image's metadata and mask.  How masked pixels are
treated differs with what the filter does, and each function says so:

- :func:`filter_image` and :func:`sgolay2d` leave masked pixels out
  (normalised convolution, and local least-squares fits weighted by the mask),
  so a masked spike never leaks into its unmasked neighbours;
- :func:`level_image` fits its background to the unmasked pixels only;
- :func:`denoise` (a global variational problem) lets masked pixels take part.

Coordinates follow the package convention: ``x`` is the column index,
increasing to the right, and ``y`` the row index, increasing *down*, both in
pixels.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..array import ImageArray
from ..errors import warn_user
from ._binding import image_function
from .geometry import parse_box

__all__ = ["denoise", "filter_image", "level_image", "sgolay2d"]


# --------------------------------------------------------------------- helpers
def _active_mask(image: ImageArray) -> np.ndarray | None:
    """Return the image's mask as a bool array, or None when no pixel is masked."""
    mask = np.ma.getmask(image)
    if mask is np.ma.nomask or not mask.any():
        return None
    return np.asarray(mask, dtype=bool)


def _check_2d(image: ImageArray, name: str) -> None:
    if image.ndim != 2:
        raise ValueError(f"image: {name} needs a 2-D image, not one of shape {image.shape}")


def _int_param(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, not {value}")
    return int(value)


def _frame_by_frame(solve, data: np.ndarray, mask: np.ndarray | None = None, *, empty_dtype) -> np.ndarray:
    """Return ``solve(frame, frame_mask)`` for each 2-D frame of ``data``, gathered in one output array.

    A 2-D image is one frame.  For a stack, only one frame's temporaries (a float
    copy, a contiguous copy of a padded view, the solver's work arrays) exist at a
    time, never a whole-stack copy; ``empty_dtype`` is the output's dtype when
    there are no frames.
    """
    if data.ndim == 2:
        return solve(data, mask)
    result = None
    for index in np.ndindex(*data.shape[:-2]):
        frame = solve(data[index], None if mask is None else mask[index])
        if result is None:
            result = np.empty(data.shape, frame.dtype)
        result[index] = frame
    return np.empty(data.shape, empty_dtype) if result is None else result


def _real_data(image: ImageArray) -> np.ndarray:
    """Return the plain pixel data; bool becomes float64, complex and other kinds are refused."""
    data = np.asarray(image.data)
    if data.dtype.kind == "b":
        return data.astype(np.float64)
    if data.dtype.kind not in "uif":
        raise TypeError(f"image: needs real numbers, not dtype {data.dtype}")
    return data


# --------------------------------------------------------------------- denoise
@image_function
def denoise(image: ImageArray, weight: float = 0.1, **kwargs) -> ImageArray:
    """Denoise by total-variation minimisation (Chambolle's algorithm).

    Parameters
    ----------
    image : ImageArray
        Input image; a stack ``(n, y, x)`` is denoised frame by frame.
    weight : float, default 0.1
        Denoising weight, in the units of the (float) data: the larger it is, the
        flatter the result.  For data in [0, 1] 0.1 is strong; scale it with the
        range of data in physical units.
    **kwargs
        Passed to :func:`skimage.restoration.denoise_tv_chambolle` (``eps``,
        ``max_num_iter``).

    Returns
    -------
    ImageArray
        A float image with the input's metadata and mask.

    Notes
    -----
    Integer (and bool) images are converted to float64 *keeping their
    values* (counts stay counts, so ``weight`` is in counts too); float images
    are used as they are (float32 stays float32).  scikit-image's
    ``denoise_tv_chambolle`` instead divides integers by their type's maximum
    (uint16 data onto [0, 1]); for that, call
    :func:`~stonerimg.funcs.intensity.asfloat` first.

    Masked pixels take part in the total-variation solve like any other pixel
    (the problem couples every pixel to its neighbours, so there is no local
    way to leave them out); the mask is kept on the result.  Replace NaNs
    before denoising: the solver spreads them.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.zeros((32, 48))
    >>> clean[:, 24:] = 1.0
    >>> noisy = ImageArray(clean + rng.normal(0.0, 0.2, clean.shape))
    >>> smooth = noisy.denoise(weight=0.2)
    >>> bool(np.std(smooth - clean) < 0.5 * np.std(noisy - clean))
    True
    """
    from skimage.restoration import denoise_tv_chambolle

    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not np.isfinite(weight) or weight <= 0:
        raise ValueError(f"weight: must be a positive number, not {weight!r}")
    if "channel_axis" in kwargs:
        raise TypeError("channel_axis: denoise works on grey images; a stack (n, y, x) is denoised frame by frame")
    data = np.asarray(image.data)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"image: denoise needs real numbers, not dtype {data.dtype}")

    def solve(frame: np.ndarray, _mask) -> np.ndarray:
        if frame.dtype.kind != "f":
            frame = frame.astype(np.float64)  # values kept: no default rescales physical data
        return denoise_tv_chambolle(frame, weight=weight, **kwargs)

    empty = np.float64 if data.dtype.kind != "f" else np.result_type(data.dtype, np.float32)
    return image._derive(_frame_by_frame(solve, data, empty_dtype=empty))


# ---------------------------------------------------------------- filter_image
def _gaussian_sigma(sigma, ndim: int) -> tuple[float, ...]:
    """``sigma`` (a number, or ``(sigma_x, sigma_y)``) as one value per NumPy axis."""
    if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
        sx = sy = float(sigma)
    else:
        try:
            sx, sy = (float(s) for s in sigma)
        except (TypeError, ValueError) as err:
            raise TypeError(f"sigma: must be a number or a pair (sigma_x, sigma_y), not {sigma!r}") from err
    if not (np.isfinite(sx) and np.isfinite(sy)) or sx < 0 or sy < 0:
        raise ValueError(f"sigma: must be finite and >= 0, not {sigma!r}")
    return (0.0,) * (ndim - 2) + (sy, sx)


@image_function
def filter_image(image: ImageArray, sigma=2, **kwargs) -> ImageArray:
    """Smooth with a Gaussian (:func:`skimage.filters.gaussian`), leaving masked pixels out.

    Parameters
    ----------
    image : ImageArray
        Input image; a stack ``(n, y, x)`` is filtered frame by frame.
    sigma : float or (float, float), default 2
        Standard deviation of the Gaussian in pixels, or ``(sigma_x, sigma_y)``.
    **kwargs
        Passed to :func:`skimage.filters.gaussian` (``mode``, ``cval``,
        ``truncate``); the range is always preserved.

    Returns
    -------
    ImageArray
        A float image (float64 for integer input, float32 stays float32) in the
        units of the input, with its metadata and mask.

    Notes
    -----
    Without a mask this is ``skimage.filters.gaussian(data, sigma,
    preserve_range=True)``.  With one, masked pixels must not leak into the
    unmasked ones, so it is a normalised convolution: with ``w`` = 1 on
    unmasked pixels and 0 on masked ones, the result is
    ``gaussian(data * w) / gaussian(w)``.  An unmasked pixel is then the
    Gaussian-weighted mean of its unmasked neighbours; a masked pixel gets the
    same estimate from its unmasked neighbours (or keeps its value when none
    lies within reach of the kernel) and stays masked.  Pixels beyond the edge
    count as data (``mode="constant"`` pads with ``cval``, weight 1).
    Unmasked NaNs spread over the kernel's reach, as in scikit-image.

    Examples
    --------
    >>> import numpy as np
    >>> data = np.zeros((9, 9))
    >>> data[4, 4] = 1e6
    >>> spiky = ImageArray(data, mask=data > 1)
    >>> float(np.abs(spiky.filter_image(sigma=1)).max())  # the masked spike does not leak
    0.0
    """
    from skimage.filters import gaussian

    for name in ("preserve_range", "channel_axis", "out"):
        if name in kwargs:
            raise TypeError(f"{name}: filter_image sets this itself and does not accept it")
    data = np.asarray(image.data)
    if data.dtype.kind not in "buif":
        raise TypeError(f"image: needs real numbers, not dtype {data.dtype}")
    sig = _gaussian_sigma(sigma, 2)  # frames are independent: the Gaussian has no width across them
    weight_kwargs = dict(kwargs)
    if weight_kwargs.get("mode") == "constant":
        weight_kwargs["cval"] = 1.0  # pixels beyond the edge are data of value cval

    def smooth(frame: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        if frame.dtype.kind == "b":
            frame = frame.astype(np.float64)
        if mask is None or not mask.any():
            return gaussian(frame, sigma=sig, preserve_range=True, **kwargs)
        filled = np.where(mask, np.zeros((), frame.dtype), frame)
        numerator = gaussian(filled, sigma=sig, preserve_range=True, **kwargs)
        weights = gaussian((~mask).astype(numerator.dtype), sigma=sig, preserve_range=True, **weight_kwargs)
        return np.divide(numerator, weights, out=frame.astype(numerator.dtype), where=weights > 0)

    empty = np.float64 if data.dtype.kind in "biu" else np.result_type(data.dtype, np.float32)
    return image._derive(_frame_by_frame(smooth, data, _active_mask(image), empty_dtype=empty))


# -------------------------------------------------------------------- sgolay2d
_DERIVATIVES = {None: ((0, 0),), "x": ((1, 0),), "y": ((0, 1),), "both": ((1, 0), (0, 1))}


def _weight_pad(weights: np.ndarray, half: int) -> np.ndarray:
    """Pad 0/1 weights to match an odd reflection of the data.

    The padded value ``2 f(0) - f(k)`` is good only when both ``f(0)`` and
    ``f(k)`` are, axis by axis (so a corner depends on four pixels).
    """
    out = weights
    for axis in range(weights.ndim):
        widths = [(0, 0)] * weights.ndim
        widths[axis] = (half, half)
        out = np.pad(out, widths, mode="reflect") * np.pad(out, widths, mode="edge")
    return out


def _correlate_monomial(padded: np.ndarray, offsets: np.ndarray, px: int, py: int, half: int) -> np.ndarray:
    """``sum_o padded[p + o] * ox**px * oy**py`` over the window, for each image pixel ``p``."""
    from scipy.ndimage import correlate1d

    out = padded
    for axis, power in ((1, px), (0, py)):
        out = correlate1d(out, offsets**power, axis=axis, mode="constant")
    if half:
        out = out[half:-half, half:-half]
    return out


def _weighted_fits(padded, weights, partial, offsets, terms, gram_inv, half):
    """Weighted least-squares fits at the ``partial`` pixels, in their bounding box only.

    Returns the coefficients (NaN where the good pixels cannot fix the fit),
    the box ``(r0, r1, c0, c1)`` and the indices of the partial pixels inside it.
    """
    rows = np.flatnonzero(partial.any(axis=1))
    cols = np.flatnonzero(partial.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    sub_weights = weights[r0 : r1 + 2 * half, c0 : c1 + 2 * half]
    sub_data = padded[r0 : r1 + 2 * half, c0 : c1 + 2 * half] * sub_weights
    where = np.nonzero(partial[r0:r1, c0:c1])
    n = len(terms)
    moments = {}
    gram = np.empty((where[0].size, n, n))
    for s, (px, py) in enumerate(terms):
        for t, (qx, qy) in enumerate(terms):
            key = (px + qx, py + qy)
            if key not in moments:
                moments[key] = _correlate_monomial(sub_weights, offsets, key[0], key[1], half)[where]
            gram[:, s, t] = moments[key]
    rhs = np.stack([_correlate_monomial(sub_data, offsets, px, py, half)[where] for px, py in terms], axis=-1)
    solved = np.full((where[0].size, n), np.nan)
    chunk = max(1, 2**20 // (n * n))
    for start in range(0, where[0].size, chunk):
        g, b = gram[start : start + chunk], rhs[start : start + chunk]
        eig = np.linalg.eigvalsh(g)
        ok = eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], 1e-300)
        if ok.any():
            solved[start : start + chunk][ok] = np.linalg.solve(g[ok], b[ok][..., None])[..., 0]
    return solved, (r0, r1, c0, c1), where


@image_function
def sgolay2d(image: ImageArray, points: int = 15, poly: int = 1, derivative: str | None = None) -> ImageArray:
    """Smooth or differentiate with a 2-D Savitzky-Golay filter.

    Each output pixel is the value (or slope) at the window centre of the
    least-squares fit of a polynomial of total degree ``poly`` in ``x`` and
    ``y`` (terms ``x**i * y**j`` with ``i + j <= poly``) to the
    ``points x points`` pixels around it.

    Parameters
    ----------
    image : ImageArray
        A 2-D image.
    points : int, default 15
        Width of the square window in pixels; odd and greater than ``poly``.
    poly : int, default 1
        Degree of the fitted polynomial (>= 1 for a derivative).
    derivative : {None, "x", "y", "both"}, default None
        None smooths; ``"x"`` gives dI/dx and ``"y"`` dI/dy; ``"both"`` gives
        both as a stack ``(2, y, x)``: ``[dI/dx, dI/dy]``.

    Returns
    -------
    ImageArray
        A float image (float64; float32 stays float32) of the input's shape, or
        the ``(2, y, x)`` stack for ``"both"``, with the input's metadata and mask.
        Derivatives are in intensity units per pixel, with ``x`` the column
        index increasing to the right and ``y`` the row index increasing *down*
        (divide by ``calibration.x.scale`` for physical units).

    Raises
    ------
    ValueError
        If ``points`` is even, not greater than ``poly`` or wider than the
        image allows, if ``poly`` is negative (or 0 with a derivative), or if
        ``derivative`` is not one of the above.

    Notes
    -----
    Beyond the edges the image is extended by odd (point) reflection
    (``2 * I[0] - I[k]``), so planes are reproduced exactly everywhere, and
    polynomials of degree ``poly`` exactly away from the edges.  Without a mask
    the kernel is applied with :func:`scipy.signal.fftconvolve`.

    Masked pixels (and NaN or infinite ones) are left out: where a window
    holds any, the fit at that pixel is a weighted least-squares fit to the
    good pixels only (where none are bad it is the same as the plain filter).
    A masked pixel gets the fit from its neighbours and stays masked; a pixel
    whose window holds too few good pixels to fit becomes NaN and is masked.
    Pixels that are NaN or infinite but not masked get the fit from their
    neighbours and are not masked.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:20, 0:30]
    >>> plane = ImageArray(3.0 * x - 2.0 * y + 1.0)
    >>> bool(np.allclose(plane.sgolay2d(points=5, derivative="x"), 3.0))
    True
    >>> plane.sgolay2d(points=5, derivative="both").shape
    (2, 20, 30)
    """
    points = _int_param(points, "points", 1)
    poly = _int_param(poly, "poly", 0)
    if points % 2 == 0:
        raise ValueError(f"points: must be odd, not {points}")
    if points <= poly:
        raise ValueError(f"points: must be greater than poly ({poly}), not {points}")
    if derivative not in _DERIVATIVES:
        raise ValueError(f"derivative: must be None, 'x', 'y' or 'both', not {derivative!r}")
    if derivative is not None and poly < 1:
        raise ValueError(f"poly: a derivative needs poly >= 1, not {poly}")
    _check_2d(image, "sgolay2d")
    half = points // 2
    rows, cols = image.shape
    if half >= min(rows, cols):
        raise ValueError(f"points: a window of {points} pixels is too wide for a {cols} x {rows} image")

    data = _real_data(image)
    out_dtype = np.float32 if data.dtype == np.float32 else np.float64
    data = data.astype(np.float64, copy=False)

    scale = float(half) if half else 1.0  # offsets in units of the half-width keep the sums well scaled
    offsets = np.arange(-half, half + 1, dtype=np.float64) / scale
    terms = [(d - j, j) for d in range(poly + 1) for j in range(d + 1)]  # (power of x, power of y)
    wanted = [terms.index(t) for t in _DERIVATIVES[derivative]]
    factor = 1.0 if derivative is None else 1.0 / scale
    design = np.stack([np.outer(offsets**py, offsets**px).ravel() for px, py in terms], axis=1)
    gram_inv = np.linalg.inv(design.T @ design)

    from scipy.signal import fftconvolve

    bad = _active_mask(image)
    finite = np.isfinite(data)
    if not finite.all():
        bad = ~finite if bad is None else bad | ~finite
    filled = data if bad is None else np.where(bad, 0.0, data)
    padded = np.pad(filled, half, mode="reflect", reflect_type="odd") if half else filled
    kernels = gram_inv @ design.T  # row t: fitted coefficient t from the window's pixels
    outputs = [
        fftconvolve(padded, kernels[t].reshape(points, points)[::-1, ::-1], mode="valid") * factor for t in wanted
    ]
    new_mask = None
    if bad is not None:
        # windows holding a bad pixel (or a padded value made from one) need their own weighted fit
        weights = _weight_pad((~bad).astype(np.float64), half) if half else (~bad).astype(np.float64)
        partial = _correlate_monomial(weights, offsets, 0, 0, half) < points * points - 0.5
        if partial.any():
            solved, (r0, r1, c0, c1), where = _weighted_fits(padded, weights, partial, offsets, terms, gram_inv, half)
            for output, t in zip(outputs, wanted, strict=True):
                output[r0:r1, c0:c1][where] = solved[:, t] * factor
            undetermined = np.zeros(image.shape, dtype=bool)
            undetermined[r0:r1, c0:c1][where] = np.isnan(solved[:, 0])
            if undetermined.any():
                new_mask = undetermined

    result_data = np.stack(outputs) if derivative == "both" else outputs[0]
    result_data = result_data.astype(out_dtype, copy=False)
    has_mask = np.ma.getmask(image) is not np.ma.nomask or new_mask is not None
    mask = np.ma.getmaskarray(image) if new_mask is None else np.ma.getmaskarray(image) | new_mask
    result = image._derive(result_data, keep_mask=False)
    if has_mask:
        result.mask = np.stack([mask, mask]) if derivative == "both" else mask
    return result


# ----------------------------------------------------------------- level_image
def _coefficients(value, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(1)
    coefs = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if coefs.ndim != 1 or coefs.size == 0 or not np.all(np.isfinite(coefs)):
        raise ValueError(f"poly: {name} must be a 1-D sequence of finite coefficients, not {value!r}")
    return coefs


def _to_pixel_polynomial(coefs_u: np.ndarray, centre: float, half_width: float, order: int) -> np.ndarray:
    """Coefficients (highest power first) in pixels of a polynomial in ``u = (p - centre) / half_width``."""
    poly = np.polynomial.Polynomial(coefs_u, domain=[centre - half_width, centre + half_width], window=[-1, 1])
    low_first = poly.convert().coef
    low_first = np.concatenate([low_first, np.zeros(max(0, order + 1 - low_first.size))])[: order + 1]
    return low_first[::-1].copy()


def _fit_background(data, valid, origin, poly_vert: int, poly_horiz: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``P_h(x) + P_v(y)`` to the valid pixels of a region.

    Returns the coefficients (highest power first, in whole-image pixel
    coordinates) of ``P_v`` and ``P_h``, each shifted to average zero over the
    valid pixels, so that subtracting them keeps the region's mean level.
    """
    xmin, ymin = origin
    rows, cols = data.shape
    count_col = valid.sum(axis=0, dtype=np.float64)
    count_row = valid.sum(axis=1, dtype=np.float64)
    total = count_col.sum()
    if total == 0:
        raise ValueError("box: the fit region holds no unmasked, finite pixels")
    if np.count_nonzero(count_col) <= poly_horiz:
        raise ValueError(
            f"poly_horiz: cannot fit order {poly_horiz} to {np.count_nonzero(count_col)} columns of unmasked pixels"
        )
    if np.count_nonzero(count_row) <= poly_vert:
        raise ValueError(
            f"poly_vert: cannot fit order {poly_vert} to {np.count_nonzero(count_row)} rows of unmasked pixels"
        )
    values = np.where(valid, data, 0.0)
    # scaled coordinates in [-1, 1] keep the normal equations well conditioned
    cx, hx = (cols - 1) / 2, max((cols - 1) / 2, 1.0)
    cy, hy = (rows - 1) / 2, max((rows - 1) / 2, 1.0)
    u = (np.arange(cols) - cx) / hx
    v = (np.arange(rows) - cy) / hy
    xcols = u[:, None] ** np.arange(0, poly_horiz + 1)  # constant and x powers
    ycols = v[:, None] ** np.arange(1, poly_vert + 1)  # y powers (the constant is in xcols)
    weights = valid.astype(np.float64)
    gram = np.block(
        [
            [xcols.T @ (count_col[:, None] * xcols), xcols.T @ (weights.T @ ycols)],
            [(weights.T @ ycols).T @ xcols, ycols.T @ (count_row[:, None] * ycols)],
        ]
    )
    rhs = np.concatenate([xcols.T @ values.sum(axis=0), ycols.T @ values.sum(axis=1)])
    coefs = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    coefs_x, coefs_y = coefs[1 : poly_horiz + 1], coefs[poly_horiz + 1 :]
    # the fitted constant is left in the image: each polynomial averages zero over the fit pixels
    horiz_u = np.concatenate([[-(count_col @ (xcols[:, 1:] @ coefs_x)) / total], coefs_x])
    vert_u = np.concatenate([[-(count_row @ (ycols @ coefs_y)) / total], coefs_y])
    p_horiz = _to_pixel_polynomial(horiz_u, xmin + cx, hx, poly_horiz)
    p_vert = _to_pixel_polynomial(vert_u, ymin + cy, hy, poly_vert)
    return p_vert, p_horiz


def _refuse_flat(data, levelled, background_y, background_x, mask) -> None:
    """Raise ValueError when ``levelled`` is flat to within the round-off of the subtraction.

    Round-off in the fit and the subtraction grows with the magnitude of the
    numbers involved (the data and the background), the precision of the
    working dtype and, slowly, the number of pixels; a spread below that bound
    is noise, and stretching it to [-1, 1] would manufacture an image.
    """
    keep = np.isfinite(levelled)
    if mask is not None:
        keep &= ~mask
    if not keep.any():
        return  # normalise says there is nothing to take the range from
    values = levelled[keep]
    spread = float(values.max()) - float(values.min())
    finite = data[keep]
    scale = max(
        abs(float(finite.max())),
        abs(float(finite.min())),
        float(np.max(np.abs(background_y))) + float(np.max(np.abs(background_x))),
    )
    eps = float(np.finfo(levelled.dtype).eps)
    # measured worst case of pure round-off: ~360 eps * scale for 2000 x 2000 pixels; 4 sqrt(n) >= 10x that
    tolerance = eps * scale * max(256.0, 4.0 * np.sqrt(values.size))
    if spread <= tolerance:
        raise ValueError(
            f"mode='norm': the levelled image is flat (its values span {spread:.3g}, within the round-off "
            f"{tolerance:.3g} of {levelled.dtype} numbers of size {scale:.3g}); there is nothing to normalise "
            "-- use mode=None to keep the values"
        )


@image_function
def level_image(
    image: ImageArray,
    poly_vert: int = 1,
    poly_horiz: int = 1,
    box=None,
    poly=None,
    mode: str | None = None,
) -> ImageArray:
    """Subtract a polynomial background ``P_v(y) + P_h(x)`` fitted to the unmasked pixels.

    Parameters
    ----------
    image : ImageArray
        A 2-D image.
    poly_vert : int, default 1
        Order of the polynomial in ``y`` (rows); 0 subtracts nothing vertically.
    poly_horiz : int, default 1
        Order of the polynomial in ``x`` (columns); 0 subtracts nothing horizontally.
    box : box, optional
        Fit only to the pixels in this box (any form
        :func:`~stonerimg.funcs.geometry.parse_box` accepts); the background is
        still subtracted from the whole image.
    poly : (p_vert, p_horiz), optional
        Subtract these polynomials instead of fitting: coefficients highest power
        first (as :func:`numpy.polyval` wants) in pixel coordinates of the whole
        image, e.g. the ``poly_vert_subtract`` and ``poly_horiz_subtract`` items
        of an image levelled before; None for either subtracts nothing in that
        direction.  ``poly_vert``, ``poly_horiz`` and ``box`` are then ignored.
    mode : {None, "clip", "norm"}, default None
        What to do with the intensity after the subtraction.  None (the
        default) keeps the levelled values as they are, in the input's units.
        ``"clip"`` saturates them to the accepted range of the input's dtype
        as the Stoner package's default did
        (:func:`~stonerimg.funcs.intensity.dtype_limits` with
        ``clip_negative=False``: [-1, 1] for floats, the type's range for
        integers), warning when unmasked pixels are clipped; ``"norm"``
        rescales them linearly so the unmasked pixels span exactly [-1, 1]
        (:func:`~stonerimg.funcs.intensity.normalise`, masked pixels scaled the
        same way) and raises ValueError when the levelled image is flat to
        within round-off (judged against the data's magnitude and the dtype's
        precision, never by exact equality).

    Returns
    -------
    ImageArray
        A float image (float64 for integer input; a float input keeps its dtype)
        with the input's metadata and mask, and the subtracted polynomials in
        ``metadata["poly_vert_subtract"]`` and ``metadata["poly_horiz_subtract"]``
        (NumPy arrays, highest power first, in pixels: ``result = image -
        polyval(poly_vert_subtract, y) - polyval(poly_horiz_subtract, x)``
        before ``mode`` is applied; ``[0.0]`` for a direction not levelled).

    Notes
    -----
    The background ``P_h(x) + P_v(y)`` (no cross terms) is fitted by least
    squares to the unmasked, finite pixels of the fit region; without a mask
    this is the same as Stoner's fits to the row and column averages.  Each
    polynomial is shifted to average zero over those pixels, so the levelled
    region keeps its mean level ("maintain the average image height").
    ``x`` is the column and ``y`` the row index of the *whole* image (``y``
    increasing down), also when a ``box`` is given, so the polynomial fitted in
    a box is the one subtracted everywhere.  Masked pixels are levelled too.

    ``poly`` is ``(p_vert, p_horiz)`` as the Stoner documentation has it (the
    Stoner code itself read the horizontal polynomial first).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:20, 0:30]
    >>> tilted = ImageArray(0.01 * x + 0.02 * y + 0.2)
    >>> flat = tilted.level_image()
    >>> bool(np.allclose(flat, tilted.mean()))
    True
    >>> flat["poly_horiz_subtract"].round(4).tolist(), flat["poly_vert_subtract"].round(4).tolist()
    ([0.01, -0.145], [0.02, -0.19])
    """
    poly_vert = _int_param(poly_vert, "poly_vert", 0)
    poly_horiz = _int_param(poly_horiz, "poly_horiz", 0)
    if mode not in ("clip", "norm", None):
        raise ValueError(f"mode: must be 'clip', 'norm' or None, not {mode!r}")
    _check_2d(image, "level_image")
    data = _real_data(image)
    in_dtype = np.asarray(image.data).dtype
    work_dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)

    if poly is not None:
        if isinstance(poly, (str, bytes)) or not hasattr(poly, "__len__") or len(poly) != 2:
            raise ValueError(f"poly: must be a pair (p_vert, p_horiz) of coefficient sequences, not {poly!r}")
        p_vert, p_horiz = _coefficients(poly[0], "p_vert"), _coefficients(poly[1], "p_horiz")
    elif poly_vert == 0 and poly_horiz == 0:
        p_vert, p_horiz = np.zeros(1), np.zeros(1)
    else:
        xmin, xmax, ymin, ymax = parse_box(image, box)
        region = data[ymin:ymax, xmin:xmax]
        valid = np.isfinite(region) if region.dtype.kind == "f" else np.ones(region.shape, dtype=bool)
        mask = _active_mask(image)
        if mask is not None:
            valid &= ~mask[ymin:ymax, xmin:xmax]
        p_vert, p_horiz = _fit_background(region, valid, (xmin, ymin), poly_vert, poly_horiz)

    rows, cols = data.shape
    background_y = np.polyval(p_vert, np.arange(rows, dtype=np.float64)).astype(work_dtype)
    background_x = np.polyval(p_horiz, np.arange(cols, dtype=np.float64)).astype(work_dtype)
    levelled = np.subtract(data, background_y[:, None], dtype=work_dtype)
    levelled -= background_x[None, :]

    if mode == "clip":
        from .intensity import dtype_limits

        low, high = dtype_limits(image, clip_negative=False)
        outside = (levelled < low) | (levelled > high)
        mask = _active_mask(image)
        n_clipped = np.count_nonzero(outside if mask is None else outside & ~mask)
        if n_clipped:
            warn_user(
                f"level_image: {n_clipped} unmasked pixels outside the {in_dtype} range [{low}, {high}] were "
                "clipped; pass mode=None to keep them",
                UserWarning,
            )
        np.clip(levelled, low, high, out=levelled)
    result = image._derive(levelled)
    if mode == "norm":
        from .intensity import normalise

        _refuse_flat(data, levelled, background_y, background_x, _active_mask(image))
        try:
            result = normalise(result, scale=(-1.0, 1.0), scale_masked=True)
        except ValueError as err:
            raise ValueError(f"mode='norm': {err}") from err
        result = result.astype(work_dtype, copy=False) if result.dtype != work_dtype else result
    result.metadata["poly_vert_subtract"] = p_vert
    result.metadata["poly_horiz_subtract"] = p_horiz
    return result
