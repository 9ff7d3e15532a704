"""Registration: measure the translation between two images and undo it.

:func:`align` and :func:`correct_drift` find the sub-pixel ``(x, y)`` shift that
registers an image onto a reference with scikit-image's
:func:`~skimage.registration.phase_cross_correlation` and apply it with
:func:`scipy.ndimage.shift`.

Sign convention (the same everywhere in this module)
    The *shift* is what is applied to ``image`` to lay it onto ``ref``:
    the result is ``result(x, y) = image(x - sx, y - sy)``.  If ``image`` is
    ``ref`` displaced by ``(dx, dy)`` (its features sit ``dx`` pixels further
    right and ``dy`` pixels further down), the shift is ``(-dx, -dy)`` and the
    *drift* is ``(dx, dy)``.  This is scikit-image's convention for ``shift``,
    written ``(x, y)`` instead of ``(row, col)``.

Robust measurement
    The regions are mean-subtracted and multiplied by a window (Tukey, flat
    over the central half, cosine tapers over the outer quarters), so the
    periodic boundary of the FFT does not pull the peak towards zero shift.  A
    fixed window would itself bias the peak for sparse features (a few
    particles on a flat background, by ~0.3 px), so a quick first pass finds
    the shift and the window of the moving image is moved by it before
    scikit-image's sub-pixel pass.  The cross-correlation is *not*
    phase-normalised by default (``normalization=None``): on real, noisy images
    the phase-only peak is off by 0.1 px or more, the plain one is good to a
    few hundredths of a pixel.  Pass ``normalization="phase"`` for
    scikit-image's default (more tolerant of uneven illumination).

Masked pixels
    When either image has masked pixels in the region, the masked normalised
    cross-correlation of scikit-image (``reference_mask``/``moving_mask``) gives
    the whole-pixel shift, which is then refined to sub-pixel precision by a
    Gauss-Newton least-squares fit of ``ref = a * shifted(image) + b`` over the
    unmasked overlap.

Nothing here fails quietly: a constant region, unmasked NaN or inf pixels, a
non-finite shift or error, or a shift as large as the image raise
:class:`ValueError`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import ImageArray
from ._binding import as_image, image_function
from .geometry import box_to_slices

__all__ = ["align", "correct_drift"]

_METHODS = ("phase", "scharr")
#: Arguments of phase_cross_correlation that align sets itself.
_RESERVED = frozenset({"reference_image", "moving_image", "upsample_factor", "reference_mask", "moving_mask", "space"})
#: Default window: flat over the central half, so little data is lost, tapered at the edges.
_WINDOW = ("tukey", 0.5)
#: Default Gaussian sigma (pixels) of ``prefilter=True``.
_DEFAULT_SIGMA = 1.0


# ----------------------------------------------------------------- checks
def _check_pair(image: ImageArray, ref) -> ImageArray:
    """Return ``ref`` as an ImageArray after checking it matches ``image``."""
    if image.ndim != 2:
        raise ValueError(f"image: registration needs a 2-D image, not one of shape {image.shape}")
    ref = as_image(ref)
    if ref.shape != image.shape:
        raise ValueError(f"ref: its shape {ref.shape} differs from the image's shape {image.shape}")
    for name, im in (("image", image), ("ref", ref)):
        if im.dtype.kind not in "biuf":
            raise TypeError(f"{name}: cannot register an image of dtype {im.dtype}")
    return ref


def _check_upsample(upsample_factor) -> int:
    if isinstance(upsample_factor, bool) or not isinstance(upsample_factor, numbers.Real):
        raise TypeError(f"upsample_factor: must be a number, not {type(upsample_factor).__name__}")
    if not upsample_factor >= 1:
        raise ValueError(f"upsample_factor: must be >= 1, not {upsample_factor!r}")
    return upsample_factor


def _check_method(method) -> str:
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise ValueError(f"method: must be one of {', '.join(map(repr, _METHODS))}, not {method!r}")
    return method.lower()


def _check_scale(scale) -> float | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale: must be a positive number or None, not {type(scale).__name__}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: must be a positive number, not {scale!r}")
    return None if scale == 1 else float(scale)


def _check_prefilter(prefilter) -> float | Callable | None:
    """Return a Gaussian sigma, a callable or None (no smoothing)."""
    if prefilter is None or prefilter is False:
        return None
    if prefilter is True:
        return _DEFAULT_SIGMA
    if callable(prefilter):
        return prefilter
    if isinstance(prefilter, numbers.Real):
        if not (np.isfinite(prefilter) and prefilter >= 0):
            raise ValueError(f"prefilter: a Gaussian sigma must be >= 0, not {prefilter!r}")
        return float(prefilter) or None
    raise TypeError(f"prefilter: must be a bool, a Gaussian sigma or a callable, not {type(prefilter).__name__}")


def _check_window(window) -> None:
    if window is None:
        return
    from scipy.signal import get_window

    try:
        get_window(window, 8)
    except (ValueError, TypeError) as err:
        raise ValueError(f"window: {window!r} is not a window scipy.signal.get_window knows ({err})") from err


# ---------------------------------------------------------- preparation
def _region(image: ImageArray, slices, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the plain float data and the valid-pixel mask (None if all valid) of one region."""
    data = np.asarray(image.data)[slices]
    mask = np.ma.getmask(image)
    valid = None
    if mask is not np.ma.nomask:
        region_mask = np.asarray(mask)[slices]
        if region_mask.any():
            valid = ~region_mask
    if data.dtype.kind != "f" or data.dtype.itemsize < 4:  # SciPy's filters need float32 or wider
        data = data.astype(np.float64)
    if not np.isfinite(data.sum()):  # cheap test first; count only when something is wrong
        bad = ~np.isfinite(data)
        if valid is not None:
            bad &= valid
        if bad.any():
            raise ValueError(
                f"{name}: {int(bad.sum())} unmasked pixels in the registration region are NaN or inf; "
                "mask them (e.g. numpy.ma.masked_invalid) to register around them"
            )
    if valid is not None:
        count = int(valid.sum())
        if count < 2:
            raise ValueError(f"{name}: only {count} unmasked pixels in the registration region")
        values = data[valid]
        low, high = values.min(), values.max()
        data = np.where(valid, data, values.mean())  # finite, smooth-ish filler under the mask
    else:
        low, high = data.min(), data.max()
    if low == high:
        raise ValueError(
            f"{name}: every unmasked pixel in the registration region equals {float(low)!r}; "
            "there is nothing to register"
        )
    return data, valid


def _rescale(data: np.ndarray, valid: np.ndarray | None, scale: float):
    from skimage.transform import rescale

    data = rescale(data, scale, order=1, preserve_range=True, anti_aliasing=scale < 1)
    if valid is not None:
        valid = rescale(valid.astype(np.float64), scale, order=1, anti_aliasing=False) > 0.999
    return data, valid


def _smooth(data: np.ndarray, valid: np.ndarray | None, prefilter) -> np.ndarray:
    """Gaussian (normalised convolution where masked) or a user callable."""
    from scipy import ndimage

    if callable(prefilter):
        result = np.asarray(prefilter(data), dtype=float)
        if result.shape != data.shape:
            raise ValueError(f"prefilter: the callable returned shape {result.shape}, not {data.shape}")
        return result
    if valid is None:
        return ndimage.gaussian_filter(data, prefilter, mode="nearest")
    weight = valid.astype(np.float64)
    total = ndimage.gaussian_filter(np.where(valid, data, 0.0), prefilter, mode="nearest")
    norm = ndimage.gaussian_filter(weight, prefilter, mode="nearest")
    return np.divide(total, norm, out=np.zeros_like(total), where=norm > 1e-12)


def _prepare(image: ImageArray, slices, name: str, method: str, scale, prefilter):
    data, valid = _region(image, slices, name)
    if scale is not None:
        data, valid = _rescale(data, valid, scale)
    if prefilter is not None:
        data = _smooth(data, valid, prefilter)
    if method == "scharr":
        from skimage.filters import scharr

        data = scharr(data)
        if valid is not None:
            from scipy import ndimage

            # an edge value is trusted only where its whole 3 x 3 neighbourhood was valid
            valid = ndimage.binary_erosion(valid, np.ones((3, 3), bool), border_value=1)
    return data, valid


def _shifted_window(window: np.ndarray, shift: float) -> np.ndarray:
    """Return the periodic 1-D ``window`` moved by ``shift`` pixels: ``w(x - shift)``."""
    if shift == 0:
        return window
    n = window.size
    x = (np.arange(n) - shift) % n
    return np.interp(x, np.arange(n + 1), np.append(window, window[0]))


def _coarse_shift(ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Shift ``(row, col)`` at the cross-correlation peak, to ~0.1 px by a parabola through it.

    Images of 128 px or more on each side are first binned 2 x 2: this pass
    only has to place the windows, and binning makes it four times cheaper.
    """
    from scipy import fft

    factor = 2 if min(ref.shape) >= 128 else 1
    if factor > 1:
        rows, cols = (ref.shape[0] // 2) * 2, (ref.shape[1] // 2) * 2
        ref, moving = (
            a[0:rows:2, 0:cols:2] + a[1:rows:2, 0:cols:2] + a[0:rows:2, 1:cols:2] + a[1:rows:2, 1:cols:2]
            for a in (ref, moving)
        )
    correlation = np.abs(fft.irfft2(fft.rfft2(ref) * fft.rfft2(moving).conj(), s=moving.shape))
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    shift = np.array(peak, dtype=float)
    for axis, (index, size) in enumerate(zip(peak, correlation.shape, strict=True)):
        if size < 3:
            continue
        before, after = list(peak), list(peak)
        before[axis], after[axis] = (index - 1) % size, (index + 1) % size
        low, mid, high = correlation[tuple(before)], correlation[peak], correlation[tuple(after)]
        curvature = low - 2 * mid + high
        if curvature < 0:
            shift[axis] += float(np.clip(0.5 * (low - high) / curvature, -0.5, 0.5))
        if shift[axis] > size // 2:
            shift[axis] -= size
    return shift * factor


def _register_windowed(ref_data, data, upsample_factor, window, kwargs):
    """Phase cross-correlation of windowed images, the moving window following the shift.

    A fixed window weights a displaced feature differently in the two images,
    which biases the peak towards zero shift (by ~0.3 px for a few isolated
    particles).  So a first, quick pass finds the shift, and the second
    (scikit-image's sub-pixel registration) moves the moving image's window by
    it, so both windows weight the same features alike.
    """
    from scipy import fft
    from scipy.signal import get_window
    from skimage.registration import phase_cross_correlation

    rows, cols = data.shape
    window_rows, window_cols = get_window(window, rows), get_window(window, cols)
    # in place wherever the arrays are our own, so the peak memory stays near the plain pipeline's
    weights = np.outer(window_rows, window_cols)
    ref_data = np.subtract(ref_data, ref_data.mean(), dtype=np.float64)
    ref_data *= weights
    data = np.subtract(data, data.mean(), dtype=np.float64)
    windowed = data * weights
    del weights
    coarse = _coarse_shift(ref_data, windowed)
    del windowed
    ref_f = fft.fft2(ref_data)
    del ref_data
    data *= np.outer(_shifted_window(window_rows, -coarse[0]), _shifted_window(window_cols, -coarse[1]))
    moving_f = fft.fft2(data)
    del data
    shift, error, _phase = phase_cross_correlation(
        ref_f, moving_f, upsample_factor=upsample_factor, space="fourier", **kwargs
    )
    return shift, error


# --------------------------------------------------------------- measure
def _refine_masked(ref, ref_valid, moving, moving_valid, shift0, iterations=20):
    """Refine a whole-pixel shift ``(row, col)`` to sub-pixel precision on the unmasked overlap.

    Gauss-Newton least squares of ``ref = a * moved + b`` with ``moved`` the
    moving image shifted by ``s``; ``a`` and ``b`` absorb contrast and offset
    changes.  Returns ``(shift, r)`` with ``r`` the correlation coefficient of
    the overlap at the final shift.
    """
    from scipy import ndimage

    moving_valid_f = moving_valid.astype(np.float64)
    footprint = np.ones((5, 5), bool)  # gradients and spline ringing reach ~2 px into masked regions
    shift = np.asarray(shift0, dtype=float)
    moved = overlap = None
    for _ in range(iterations):
        moved = ndimage.shift(moving, shift, order=3, mode="nearest")
        moved_valid = ndimage.shift(moving_valid_f, shift, order=1, mode="constant", cval=0.0) > 0.999
        overlap = ndimage.binary_erosion(ref_valid & moved_valid, footprint, border_value=0)
        if overlap.sum() < 16:
            raise ValueError("ref: the unmasked pixels of image and ref do not overlap enough to register them")
        grad_y, grad_x = np.gradient(moved)
        design = np.column_stack([moved[overlap], np.ones(int(overlap.sum())), -grad_y[overlap], -grad_x[overlap]])
        (gain, _offset, gy, gx), *_ = np.linalg.lstsq(design, ref[overlap], rcond=None)
        if not np.isfinite(gain) or abs(gain) < 1e-12:
            raise ValueError("image: registration failed, the images are not correlated over their unmasked overlap")
        step = np.array([gy, gx]) / gain
        if not np.all(np.isfinite(step)):
            raise ValueError("image: registration failed, the sub-pixel refinement gave a non-finite shift")
        step = np.clip(step, -0.5, 0.5)  # the whole-pixel estimate is within half a pixel
        shift = shift + step
        if np.max(np.abs(step)) < 1e-3:
            break
    moved = ndimage.shift(moving, shift, order=3, mode="nearest")
    r = np.corrcoef(ref[overlap], moved[overlap])[0, 1]
    return shift, r


def _measure(
    image: ImageArray,
    ref: ImageArray,
    *,
    method: str,
    box,
    scale,
    prefilter,
    upsample_factor,
    window,
    pcc_kwargs: dict[str, Any],
) -> tuple[tuple[float, float], float]:
    """``((sx, sy), error)``: the shift that registers ``image`` onto ``ref`` and its error."""
    from skimage.registration import phase_cross_correlation

    method = _check_method(method)
    upsample_factor = _check_upsample(upsample_factor)
    scale = _check_scale(scale)
    prefilter = _check_prefilter(prefilter)
    _check_window(window)
    reserved = _RESERVED.intersection(pcc_kwargs)
    if reserved:
        raise TypeError(f"{', '.join(sorted(reserved))}: set by align itself, not passed through")
    slices = box_to_slices(image, box)
    ref_data, ref_valid = _prepare(ref, slices, "ref", method, scale, prefilter)
    data, valid = _prepare(image, slices, "image", method, scale, prefilter)

    if ref_valid is None and valid is None:
        kwargs = {"normalization": None, **pcc_kwargs}
        kwargs.pop("overlap_ratio", None)  # only meaningful with masks
        with np.errstate(invalid="ignore", divide="ignore"):
            if window is None:
                shift, error, _phase = phase_cross_correlation(
                    ref_data - ref_data.mean(), data - data.mean(), upsample_factor=upsample_factor, **kwargs
                )
            else:
                shift, error = _register_windowed(ref_data, data, upsample_factor, window, kwargs)
    else:
        ref_valid = np.ones(ref_data.shape, bool) if ref_valid is None else ref_valid
        valid = np.ones(data.shape, bool) if valid is None else valid
        kwargs = {k: v for k, v in pcc_kwargs.items() if k == "overlap_ratio"}
        whole, _error, _phase = phase_cross_correlation(
            ref_data, data, reference_mask=ref_valid, moving_mask=valid, **kwargs
        )
        if not np.all(np.isfinite(whole)):
            raise ValueError("image: masked registration failed (non-finite whole-pixel shift)")
        shift, r = _refine_masked(ref_data, ref_valid, data, valid, whole)
        error = float(np.sqrt(max(0.0, 1.0 - r * r))) if np.isfinite(r) else np.nan

    shift = np.asarray(shift, dtype=float)
    if scale is not None:
        shift = shift / scale
    error = float(error)
    if not (np.all(np.isfinite(shift)) and np.isfinite(error)):
        raise ValueError(
            f"image: registration failed (shift {tuple(shift[::-1])}, error {error}); "
            "the images may be unrelated, constant or contain invalid values"
        )
    rows, cols = image.shape
    if abs(shift[0]) > rows - 1 or abs(shift[1]) > cols - 1:
        raise ValueError(
            f"image: registration failed, the shift (x, y) = {tuple(shift[::-1])} is as large as the image"
        )
    return (float(shift[1]), float(shift[0])), error


# ----------------------------------------------------------------- shift
def _translation_limits(shape, shift) -> tuple[int, int, int, int]:
    """``(xmin, xmax, ymin, ymax)`` of the pixels whose values all come from inside the image."""
    rows, cols = shape
    sx, sy = shift
    xmin, xmax = (int(np.ceil(sx)), cols) if sx > 0 else (0, cols + int(np.floor(sx)))
    ymin, ymax = (int(np.ceil(sy)), rows) if sy > 0 else (0, rows + int(np.floor(sy)))
    return (xmin, xmax, ymin, ymax)


def _shift_image(image: ImageArray, shift, *, order: int, mode: str, cval: float) -> ImageArray:
    """Return the image moved by ``shift`` (x, y), its mask moved alike and its metadata copied."""
    from scipy import ndimage

    sx, sy = shift
    data = np.asarray(image.data)
    if data.dtype.kind == "b":
        moved = ndimage.shift(data.astype(np.float64), (sy, sx), order=order, mode=mode, cval=cval) > 0.5
    elif data.dtype == np.float16:  # not supported by SciPy: interpolate in float32
        moved = ndimage.shift(data.astype(np.float32), (sy, sx), order=order, mode=mode, cval=cval).astype(np.float16)
    else:
        moved = ndimage.shift(data, (sy, sx), order=order, mode=mode, cval=cval)
    result = image._derive(moved, keep_mask=False)
    new_mask = None
    mask = np.ma.getmask(image)
    if mask is not np.ma.nomask and mask.any():
        # a pixel is masked when a masked pixel takes part in its (linear) interpolation
        spread = ndimage.shift(np.asarray(mask, dtype=np.float64), (sy, sx), order=1, mode=mode, cval=0.0)
        new_mask = spread > 1e-6
    if mode in ("constant", "grid-constant"):  # filled with cval, not data: masked, as translate does
        xmin, xmax, ymin, ymax = _translation_limits(data.shape, shift)
        outside = np.ones(data.shape, bool)
        outside[ymin:ymax, xmin:xmax] = False
        if outside.any():
            new_mask = outside if new_mask is None else new_mask | outside
    if new_mask is not None:
        result.mask = new_mask
    return result


def _check_interpolation(order, mode) -> None:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or not 0 <= order <= 5:
        raise ValueError(f"order: the spline order must be an int in 0..5, not {order!r}")
    modes = ("nearest", "reflect", "mirror", "constant", "wrap", "grid-wrap", "grid-mirror", "grid-constant")
    if mode not in modes:
        raise ValueError(f"mode: must be one of {', '.join(modes)}, not {mode!r}")


# ------------------------------------------------------------- functions
@image_function
def align(
    image: ImageArray,
    ref,
    method: str = "scharr",
    *,
    box=None,
    scale: float | None = None,
    prefilter=True,
    upsample_factor: int = 100,
    window: str | tuple | None = _WINDOW,
    order: int = 3,
    mode: str = "nearest",
    cval: float = 0.0,
    **kwargs,
) -> ImageArray:
    """Register the image onto a reference and return the shifted image.

    The sub-pixel translation is measured with scikit-image's
    :func:`~skimage.registration.phase_cross_correlation` and applied with
    :func:`scipy.ndimage.shift`.

    Parameters
    ----------
    image : ImageArray
        The 2-D image to move.
    ref : ImageArray, ImageFile or array_like
        The reference image, of the same shape.  Its masked pixels are ignored.
    method : {"scharr", "phase"}, default "scharr"
        What is correlated: ``"phase"`` the intensities themselves; ``"scharr"``
        the Scharr edge magnitude of the (smoothed) intensities, which is the
        same when the contrast changes or reverses (e.g. the two circular
        polarizations of an XMCD pair, or a Kerr image before and after
        switching).
    box : None, int, float, str or 4-sequence, optional
        The region (any form :func:`~stonerimg.funcs.parse_box` accepts) in which
        the shift is measured, e.g. to leave out a scale bar.  The whole image
        is shifted.
    scale : float, optional
        Rescale both regions by this factor before measuring (Stoner's meaning);
        the shift is divided by it again.  ``scale < 1`` speeds up large images
        at some cost in precision; sub-pixel precision itself comes from
        ``upsample_factor``.
    prefilter : bool, float or callable, default True
        Smoothing before the measurement: ``True`` a Gaussian of sigma 1 px, a
        number that sigma, ``False`` none, or a function of the plain array
        (applied to both images).  Masked images are smoothed by normalised
        convolution, so masked pixels do not leak into their neighbours.
    upsample_factor : int, default 100
        The shift is found to ``1 / upsample_factor`` of a pixel.
    window : str, tuple or None, default ("tukey", 0.5)
        Window (anything :func:`scipy.signal.get_window` takes) applied to the
        mean-subtracted regions before the FFT, against the periodic-boundary
        artefact; the moving image's window follows a first estimate of the
        shift, so it does not bias the result.  ``None``: no window, a single
        pass.  Not used with masks.
    order : int, default 3
        Spline order of the interpolation in :func:`scipy.ndimage.shift`.
    mode : str, default "nearest"
        How :func:`scipy.ndimage.shift` fills pixels that come from outside the
        image (``"nearest"`` repeats the edge pixels; with ``"constant"`` they
        hold ``cval`` and are masked).
    cval : float, default 0
        Fill value for ``mode="constant"``.
    **kwargs
        Passed to :func:`~skimage.registration.phase_cross_correlation`, e.g.
        ``normalization="phase"`` (default here ``None``), ``disambiguate=True``
        or, for masked images, ``overlap_ratio``.

    Returns
    -------
    ImageArray
        The shifted image, of the input's dtype (integers are rounded and
        clipped to their type's range), with the mask shifted alike and these
        metadata items:

        - ``align.shift``: ``(x, y)`` shift applied, in pixels;
          ``result(x, y) = image(x - sx, y - sy)``;
        - ``align.error``: the translation-invariant normalised RMS error of the
          match (0 is perfect, 1 no correlation; always about 1 with
          ``normalization="phase"``);
        - ``align.method``: the method used;
        - ``translation_limits``: ``(xmin, xmax, ymin, ymax)``, the box of pixels
          filled only from inside the image (``result.crop("translation_limits")``).

    Raises
    ------
    ValueError
        If ``ref`` has another shape, an argument is out of range, or the
        registration fails: a constant region, unmasked NaN/inf pixels, a
        non-finite shift or error, or a shift as large as the image.  A failed
        registration never returns a zero shift.

    Notes
    -----
    If ``image`` is ``ref`` displaced by ``(dx, dy)``, ``align.shift`` is
    ``(-dx, -dy)``.  With masked pixels, scikit-image's masked normalised
    cross-correlation gives the whole-pixel shift and a least-squares fit on
    the unmasked overlap refines it below a pixel; ``align.error`` is then
    ``sqrt(1 - r**2)`` with ``r`` the correlation of the overlap, and
    ``upsample_factor``, ``window`` and ``normalization`` are not used (the
    fit converges to about 0.001 px).  The masked correlation looks for a
    positive match, so register contrast-reversed masked images with
    ``method="scharr"``.  A result
    pixel is masked when a masked pixel takes part in its linear
    interpolation; pixels from outside the image are filled by ``mode`` and
    masked only for ``mode="constant"`` (see ``translation_limits``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> yy, xx = np.mgrid[:64, :80]
    >>> blobs = [(20, 15), (50, 40), (60, 20)]  # (x, y) of three particles
    >>> ref = ImageArray(sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in blobs))
    >>> moved = ImageArray(ndimage.shift(ref.data, (-1.4, 2.3)))  # (rows, cols): x + 2.3, y - 1.4
    >>> out = moved.align(ref, method="phase")
    >>> np.round(out["align.shift"], 2).tolist(), out["align.method"]
    ([-2.3, 1.4], 'phase')
    >>> bool(abs(out - ref).max() < 0.01), out["translation_limits"]
    (True, (0, 77, 2, 64))
    """
    ref = _check_pair(image, ref)
    _check_interpolation(order, mode)
    method = _check_method(method)
    shift, error = _measure(
        image,
        ref,
        method=method,
        box=box,
        scale=scale,
        prefilter=prefilter,
        upsample_factor=upsample_factor,
        window=window,
        pcc_kwargs=kwargs,
    )
    result = _shift_image(image, shift, order=order, mode=mode, cval=cval)
    md = result.metadata
    md["align.shift"] = shift
    md["align.error"] = error
    md["align.method"] = method
    md["translation_limits"] = _translation_limits(image.shape, shift)
    return result


@image_function
def correct_drift(
    image: ImageArray,
    ref,
    box=None,
    upsample_factor: int = 50,
    do_shift: bool = True,
    method: str = "phase",
    *,
    order: int = 3,
    mode: str = "nearest",
    cval: float = 0.0,
) -> ImageArray:
    """Measure the drift of the image relative to a reference and shift it back.

    Parameters
    ----------
    image : ImageArray
        The drifted 2-D image.
    ref : ImageArray, ImageFile or array_like
        The reference image, of the same shape, with assumed zero drift.
    box : None, int, float, str or 4-sequence, optional
        The region used to measure the drift (any form
        :func:`~stonerimg.funcs.parse_box` accepts), e.g. to keep a scale bar or
        annotation out of the calculation.  The whole image is shifted.
    upsample_factor : int, default 50
        The drift is found to ``1 / upsample_factor`` of a pixel.
    do_shift : bool, default True
        Shift the image back; ``False`` only measures and records the drift
        (the returned image shares its data with the input).
    method : {"phase", "scharr"}, default "phase"
        ``"phase"`` correlates the intensities as they are (no smoothing);
        ``"scharr"`` the Scharr edges of a lightly smoothed copy (Gaussian,
        sigma 1 px), for images whose contrast changes or reverses.  See
        :func:`align`.
    order, mode, cval
        Interpolation of :func:`scipy.ndimage.shift` (cubic spline, edge pixels
        repeated, by default).

    Returns
    -------
    ImageArray
        The image (shifted back when ``do_shift``) with the metadata items
        Stoner writes, both ``(x, y)`` in pixels:

        - ``correct_drift``: the drift ``(dx, dy)`` of the image relative to
          ``ref`` (its features sit ``dx`` px further right, ``dy`` px further
          down);
        - ``drift_shift``: ``(-dx, -dy)``, the shift that translated the image
          back onto ``ref``;

        and ``drift_error``, the registration error (see :func:`align`).  When
        shifted, ``translation_limits`` gives the box of pixels filled only from
        inside the image.

    Raises
    ------
    ValueError
        As :func:`align`: a failed registration raises, it never returns a
        zero drift.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> yy, xx = np.mgrid[:64, :80]
    >>> blobs = [(20, 15), (50, 40), (60, 20)]  # (x, y) of three particles
    >>> ref = ImageArray(sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in blobs))
    >>> drifted = ImageArray(ndimage.shift(ref.data, (-1.4, 2.3)))  # drift x + 2.3, y - 1.4
    >>> fixed = drifted.correct_drift(ref)
    >>> np.round(fixed["correct_drift"], 2).tolist(), np.round(fixed["drift_shift"], 2).tolist()
    ([2.3, -1.4], [-2.3, 1.4])
    """
    ref = _check_pair(image, ref)
    _check_interpolation(order, mode)
    method = _check_method(method)
    if not isinstance(do_shift, (bool, np.bool_)):
        raise TypeError(f"do_shift: must be True or False, not {do_shift!r}")
    shift, error = _measure(
        image,
        ref,
        method=method,
        box=box,
        scale=None,
        prefilter=method == "scharr",
        upsample_factor=upsample_factor,
        window=_WINDOW,
        pcc_kwargs={},
    )
    if do_shift:
        result = _shift_image(image, shift, order=order, mode=mode, cval=cval)
        result.metadata["translation_limits"] = _translation_limits(image.shape, shift)
    else:
        result = image.view(type(image))
    md = result.metadata
    md["correct_drift"] = (-shift[0], -shift[1])
    md["drift_shift"] = shift
    md["drift_error"] = error
    return result
