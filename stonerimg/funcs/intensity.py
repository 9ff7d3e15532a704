"""Intensity: dtype conversion, scaling, clipping, contrast and the range of an image.

The conversion rules are those of scikit-image's ``img_as_*`` family (floats
live in [0, 1] or [-1, 1], integers use their whole range), extended to every
integer width and with warnings when precision or sign is lost.  The contrast
functions (:func:`adjust_contrast`, :func:`quantize`, :func:`remove_outliers`,
:func:`threshold_minmax`, :func:`subtract_image`) take every statistic from the
unmasked, finite pixels only.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..array import ImageArray
from ..errors import ConversionWarning, warn_user
from ..imagefile import ImageFile
from ._binding import image_function
from .geometry import box_to_slices

__all__ = [
    "adjust_contrast",
    "asfloat",
    "asint",
    "clip_intensity",
    "clip_neg",
    "convert",
    "dtype_limits",
    "im_scale",
    "normalise",
    "quantize",
    "remove_outliers",
    "span",
    "subtract_image",
    "threshold_minmax",
]

_SUPPORTED_KINDS = "biuf"


def _int_dtype(kind: str, bits: int) -> np.dtype:
    """Return the smallest integer dtype of ``kind`` that holds non-negative ``bits``-bit values.

    A signed type needs one bit more than the value for its sign.
    """
    signed = kind != "u"
    for size in (8, 16, 32, 64):
        if size > bits or (size == bits and not signed):
            return np.dtype(f"{'i' if signed else 'u'}{size // 8}")
    raise ValueError(f"no {'signed' if signed else 'unsigned'} integer type holds {bits}-bit values")


def _unmasked(image: ImageArray) -> np.ndarray:
    """Return the pixels statistics use: the data itself (no copy) when nothing is masked."""
    data = np.asarray(image.data)
    mask = np.ma.getmask(image)
    if mask is np.ma.nomask or not mask.any():
        return data
    return data[~mask]


def _value_range(values: np.ndarray, *, finite: bool = False):
    """Return ``(min, max)`` ignoring NaN (and infinities when ``finite``), or None if nothing is left.

    The common case - no NaN - costs one pass for each of min and max and no copy.
    """
    if values.size == 0:
        return None
    low, high = values.min(), values.max()
    if values.dtype.kind in "fc":
        bad = np.isfinite if finite else (lambda v: ~np.isnan(v))
        if not (bad(low) and bad(high)):
            values = values[bad(values)]
            if values.size == 0:
                return None
            low, high = values.min(), values.max()
    return low, high


def _prec_loss(dtype_in: np.dtype, dtype_out: np.dtype) -> None:
    warn_user(
        f"possible precision loss converting image of type {dtype_in} to {dtype_out}",
        ConversionWarning,
    )


def _sign_loss(dtype_in: np.dtype, dtype_out: np.dtype) -> None:
    warn_user(
        f"negative values clipped converting image of type {dtype_in} to {dtype_out} (sign loss)",
        ConversionWarning,
    )


def _scale_bits(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """Scale integers from ``n`` to ``m`` bits as scikit-image's ``_scale`` does, for every width.

    Down: values that already fit in ``m`` bits are kept (for a signed array only when
    its minimum fits too), otherwise floor division by ``2**(n - m)``.  Up (non-negative
    values only): the ``n`` bits are replicated, ``x * (2**o - 1) // (2**n - 1) // 2**(o - m)``
    with ``o`` the next multiple of ``n`` -- exact, done with shifts in 64-bit unsigned
    arithmetic, so no intermediate wider than 64 bits is needed.
    """
    kind = a.dtype.kind
    if n == m:
        return a.copy()
    if n > m:
        if a.size and a.max() < 2**m and (kind == "u" or a.min() >= -(2**m)):
            # the values already fit: keep them, as scikit-image does
            return a.astype(_int_dtype(kind, m))
        out = np.empty(a.shape, _int_dtype(kind, m))
        np.floor_divide(a, a.dtype.type(2 ** (n - m)), out=out, dtype=a.dtype, casting="unsafe")
        return out
    x = a.astype(np.uint64)
    out = np.zeros(a.shape, np.uint64)
    shift = m - n
    while shift > -n:  # x repeated from the top bit down, cut at bit 0
        out |= (x << np.uint64(shift)) if shift >= 0 else (x >> np.uint64(-shift))
        shift -= n
    return out.astype(_int_dtype(kind, m), copy=False)


def _float_to_int(values: np.ndarray, info: np.iinfo, dtype_out: np.dtype) -> np.ndarray:
    """Cast rounded, clipped floats to an integer type whose maximum a float may not hold.

    ``float(2**63 - 1)`` is ``2**63``: a value that rounded to it would wrap to the minimum,
    so it becomes the type's maximum instead.
    """
    top = values.dtype.type(info.max)
    if int(top) <= info.max:
        return values.astype(dtype_out)
    over = values >= top
    np.minimum(values, np.nextafter(top, values.dtype.type(0)), out=values)
    result = values.astype(dtype_out)
    result[over] = info.max
    return result


def _convert_array(data: np.ndarray, dtype_out: np.dtype, *, uniform: bool, normalise: bool) -> np.ndarray:
    dtype_in = data.dtype
    kind_in, kind_out = dtype_in.kind, dtype_out.kind
    if kind_in not in _SUPPORTED_KINDS or kind_out not in _SUPPORTED_KINDS:
        raise ValueError(f"dtype: cannot convert an image from {dtype_in} to {dtype_out}")
    bits_in, bits_out = 8 * dtype_in.itemsize, 8 * dtype_out.itemsize
    if kind_out == "b":
        if kind_in == "f":
            return data > 0.5
        return data > np.iinfo(dtype_in).max // 2
    if kind_in == "b":
        result = data.astype(dtype_out)
        if kind_out != "f":
            result *= np.iinfo(dtype_out).max
        return result
    if kind_in == "f":
        if kind_out == "f":
            if bits_out < bits_in:
                _prec_loss(dtype_in, dtype_out)
            return data.astype(dtype_out)
        _prec_loss(dtype_in, dtype_out)
        low = 0.0 if kind_out == "u" else -1.0
        value_range = _value_range(data)
        has_nan = value_range is not None and data.size and np.isnan(data.min())
        if value_range is not None and (value_range[0] < low or value_range[1] > 1.0):
            if kind_out == "u" and value_range[0] < 0:
                _sign_loss(dtype_in, dtype_out)
            warn_user(
                f"float values outside [{low:g}, 1] clipped converting to {dtype_out}; normalise() first to keep them",
                ConversionWarning,
            )
        info = np.iinfo(dtype_out)
        # scikit-image's computation type, but never float16 (too few bits) and at least
        # float64 for 32- and 64-bit targets (float32 holds neither end of their range)
        work = np.float32 if bits_out <= 16 and bits_in <= 32 else np.float64
        work = dtype_in if bits_in > 64 else work  # longdouble keeps its own precision
        if not uniform:
            if kind_out == "u":
                out = np.multiply(data, info.max, dtype=work)
            else:
                out = np.multiply(data, (info.max - info.min) / 2, dtype=work)
                out -= 0.5
            np.rint(out, out=out)
        elif kind_out == "u":
            out = np.multiply(data, info.max + 1.0, dtype=work)
        else:
            out = np.multiply(data, (info.max - info.min + 1.0) / 2.0, dtype=work)
            np.floor(out, out=out)
        np.clip(out, info.min, info.max, out=out)
        if has_nan:
            np.nan_to_num(out, copy=False, nan=0.0)
        return _float_to_int(out, info, dtype_out)
    info_in = np.iinfo(dtype_in)
    if kind_out == "f":
        if not normalise:
            return data.astype(dtype_out)
        if bits_out > 64:  # longdouble: divide in its own precision (the ends come out exactly)
            out = np.divide(data, dtype_out.type(info_in.max), dtype=dtype_out)
        else:  # scikit-image's arithmetic; the type's maximum gives exactly 1.0 in float32 and float64
            work = np.float32 if bits_in <= 16 and bits_out <= 32 else np.float64
            out = np.multiply(data, 1.0 / info_in.max, dtype=work)
        if kind_in == "i":
            np.maximum(out, -1.0, out=out)
        return out.astype(dtype_out, copy=False)
    if bits_out < bits_in or (kind_in == "i" and kind_out == "u") or (kind_in == "u" and bits_out == bits_in):
        _prec_loss(dtype_in, dtype_out)
    if kind_in == "u":
        if kind_out == "i":
            return _scale_bits(data, bits_in, bits_out - 1).astype(dtype_out)
        return _scale_bits(data, bits_in, bits_out)
    unsigned_in = _int_dtype("u", bits_in)
    if kind_out == "u":
        if data.size and data.min() < 0:
            _sign_loss(dtype_in, dtype_out)
        return _scale_bits(np.maximum(data, 0).astype(unsigned_in), bits_in - 1, bits_out).astype(dtype_out)
    if bits_in > bits_out:
        return _scale_bits(data, bits_in - 1, bits_out - 1).astype(dtype_out)
    # shift onto the unsigned range, scale there, shift back (wrapping arithmetic is exact here)
    shifted = (data.astype(np.int64) - info_in.min).astype(unsigned_in)
    scaled = _scale_bits(shifted, bits_in, bits_out).astype(dtype_out)
    return scaled + np.array(np.iinfo(dtype_out).min, dtype=dtype_out)


@image_function
def convert(
    image: ImageArray, dtype, *, force_copy: bool = False, uniform: bool = False, normalise: bool = True
) -> ImageArray:
    """Convert an image to another dtype, rescaling the intensity as scikit-image does.

    Floats are taken to lie in [0, 1] (or [-1, 1] for a signed target) and are
    clipped to it, with a :class:`~stonerimg.ConversionWarning`, when converting
    to integers; integers use their type's whole range.  A
    :class:`~stonerimg.ConversionWarning` is also issued on possible precision
    loss (fewer bits, float to integer) and when negative values are clipped to
    an unsigned type (sign loss).

    Parameters
    ----------
    image : ImageArray
        Input image.
    dtype : dtype
        Target data type (bool, any integer width, float16/32/64).
    force_copy : bool, default False
        Copy the data even when it already has the requested dtype.
    uniform : bool, default False
        Quantise the float range uniformly onto the integers (``floor``) instead of
        scaling and rounding, which minimises round-trip error.
    normalise : bool, default True
        When converting integers to floats, divide by the integer type's maximum
        (False keeps the numbers as they are).

    Returns
    -------
    ImageArray
        The converted image with its mask and metadata.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[0, 128, 255]], dtype=np.uint8))
    >>> im.convert(np.uint16).tolist()
    [[0, 32896, 65535]]
    >>> im.convert(np.float64).round(3).tolist()
    [[0.0, 0.502, 1.0]]
    """
    dtype_out = np.dtype(dtype)
    data = np.asarray(image.data)
    if data.dtype == dtype_out:
        return image.copy() if force_copy else image
    return image._derive(_convert_array(data, dtype_out, uniform=uniform, normalise=normalise))


@image_function
def asfloat(image: ImageArray, normalise: bool = True, clip: bool = False, clip_negative: bool = False) -> ImageArray:
    """Return the image as floating point (float64 for integer or bool input).

    Parameters
    ----------
    image : ImageArray
        Input image.
    normalise : bool, default True
        Divide integers by their type's maximum, so they map onto [0, 1] or [-1, 1].
    clip : bool, default False
        Clip values to [-1, 1].
    clip_negative : bool, default False
        Clip values to [0, 1] (implies ``clip``).

    Returns
    -------
    ImageArray
        A float image (the input itself, as a new view, when it is already float and
        no clipping is asked for).

    Examples
    --------
    >>> import numpy as np
    >>> asfloat(np.array([[0, 51, 255]], np.uint8)).tolist()
    [[0.0, 0.2, 1.0]]
    >>> asfloat(np.array([[0, 51, 255]], np.uint8), normalise=False).tolist()
    [[0.0, 51.0, 255.0]]
    """
    result = image if image.dtype.kind == "f" else convert(image, np.float64, normalise=normalise)
    if clip or clip_negative:
        result = clip_intensity(result, clip_negative=clip_negative)
    return result


@image_function
def asint(image: ImageArray, dtype=np.uint16) -> ImageArray:
    """Return the image converted to an integer type (default ``uint16``) with :func:`convert`.

    May warn (:class:`~stonerimg.ConversionWarning`) about loss of precision or sign.

    Notes
    -----
    Floats are *rounded* to the nearest integer (``numpy.rint``, halves to even), as
    scikit-image's ``img_as_uint`` does: 0.5 becomes 32768 in ``uint16``.  The Stoner
    package truncated (32767).  ``convert(dtype, uniform=True)`` quantises with
    ``floor`` instead.  0.0 and 1.0 (and -1.0 for a signed type) map exactly onto
    the ends of the integer range for every width, 64-bit included.

    Examples
    --------
    >>> import numpy as np
    >>> asint(np.array([[0.0, 0.5, 1.0]])).tolist()
    [[0, 32768, 65535]]
    >>> asint(np.array([[-1.0, 0.5, 1.0]]), np.int64).tolist()
    [[-9223372036854775808, 4611686018427387904, 9223372036854775807]]
    """
    if np.dtype(dtype).kind not in "ui":
        raise ValueError(f"dtype: asint needs an integer dtype, not {np.dtype(dtype)}")
    return convert(image, dtype)


@image_function
def dtype_limits(image: ImageArray, clip_negative: bool = True) -> tuple:
    """Return ``(min, max)`` intensity limits of the image's dtype.

    Floats are taken to span [-1, 1]; with ``clip_negative`` (the default, as in
    the Stoner package) the lower limit is 0 for every type.

    Examples
    --------
    >>> import numpy as np
    >>> dtype_limits(np.zeros((2, 2), np.int8), clip_negative=False)
    (-128, 127)
    """
    dtype = image.dtype
    if dtype.kind == "b":
        low, high = False, True
    elif dtype.kind == "f":
        low, high = -1, 1
    elif dtype.kind in "ui":
        info = np.iinfo(dtype)
        low, high = int(info.min), int(info.max)
    else:
        raise ValueError(f"image: dtype {dtype} has no intensity limits")
    if clip_negative and dtype.kind != "b":
        low = 0
    return low, high


@image_function
def clip_intensity(image: ImageArray, clip_negative: bool = False, limits=None) -> ImageArray:
    """Clip the intensity to ``limits``, or to the dtype's range ([-1, 1] or [0, 1] for floats).

    Parameters
    ----------
    image : ImageArray
        Input image.
    clip_negative : bool, default False
        Without ``limits``: clip to [0, max] instead of [min, max].
    limits : (low, high), optional
        Clip between these values instead.

    Examples
    --------
    >>> import numpy as np
    >>> clip_intensity(np.array([[-2.0, 0.5, 3.0]])).tolist()
    [[-1.0, 0.5, 1.0]]
    >>> clip_intensity(np.array([[-2.0, 0.5, 3.0]]), limits=(0, 2)).tolist()
    [[0.0, 0.5, 2.0]]
    """
    if limits is None:
        low, high = dtype_limits(image, clip_negative=clip_negative)
    else:
        low, high = limits
        if low > high:
            raise ValueError(f"limits: low ({low}) is above high ({high})")
    return image._derive(np.clip(np.asarray(image.data), low, high))


@image_function
def clip_neg(image: ImageArray) -> ImageArray:
    """Set negative pixels to 0.

    Examples
    --------
    >>> import numpy as np
    >>> clip_neg(np.array([[-2.0, 0.5, 3.0]])).tolist()
    [[0.0, 0.5, 3.0]]
    """
    data = np.asarray(image.data)
    return image._derive(np.maximum(data, np.zeros((), data.dtype)))


@image_function
def normalise(image: ImageArray, scale=None, sample=None, limits=(0.0, 1.0), scale_masked: bool = False) -> ImageArray:
    """Rescale the intensity linearly onto ``scale`` (default (-1, 1)).

    Parameters
    ----------
    image : ImageArray
        Input image; masked pixels are ignored when finding the input range.
    scale : (low, high), optional
        The output range, default ``(-1.0, 1.0)``.
    sample : box, optional
        Find the input range in this box only (any form :func:`~stonerimg.funcs.geometry.crop`
        accepts); the whole image is still scaled.
    limits : (low, high), default (0.0, 1.0)
        Fractions of the cumulative distribution taken as the input range, to
        ignore outliers; values beyond them are clipped to ``scale``.
    scale_masked : bool, default False
        Also rescale the masked pixels (otherwise their values are left as they are).

    Returns
    -------
    ImageArray
        A float64 image.

    Raises
    ------
    ValueError
        If the input range is empty (a flat image, or everything masked).

    Examples
    --------
    >>> import numpy as np
    >>> ImageArray(np.array([[2.0, 4.0, 6.0]])).normalise().tolist()
    [[-1.0, 0.0, 1.0]]
    """
    out_low, out_high = (-1.0, 1.0) if scale is None else scale
    region = image if sample is None else image[(Ellipsis, *box_to_slices(image, sample))]
    low_frac, high_frac = limits
    if not 0.0 <= low_frac < high_frac <= 1.0:
        raise ValueError(f"limits must be fractions with 0 <= low < high <= 1, not {limits!r}")
    values = _unmasked(region)
    value_range = _value_range(values, finite=True)
    if value_range is None:
        raise ValueError("image: no unmasked finite pixels to take the input range from")
    if (low_frac, high_frac) == (0.0, 1.0):
        low, high = float(value_range[0]), float(value_range[1])
    else:
        if values.dtype.kind in "fc":
            values = values[np.isfinite(values)]
        owned = not np.may_share_memory(values, image.data)  # a copy already: partition it in place
        low, high = (float(v) for v in np.quantile(values, [low_frac, high_frac], overwrite_input=owned))
    if high == low:
        raise ValueError(f"image: all pixels used for the input range have the value {low}; cannot normalise")
    data = np.asarray(image.data, dtype=np.float64)
    # t = 0 at low and exactly 1 at high (a division, not a product with a rounded
    # reciprocal), then the two-sided blend out_low * (1 - t) + out_high * t: the
    # ends of the target range come out exactly, whatever they are
    t = data - low
    t /= high - low
    result = t * out_high
    if out_low != 0:
        np.subtract(1.0, t, out=t)
        t *= out_low
        result += t
    if (low_frac, high_frac) != (0.0, 1.0):
        np.clip(result, min(out_low, out_high), max(out_low, out_high), out=result)
    mask = np.ma.getmask(image)
    if not scale_masked and mask is not np.ma.nomask:
        result[mask] = data[mask]
    return image._derive(result)


@image_function
def span(image: ImageArray) -> tuple:
    """Return ``(min, max)`` of the unmasked, non-NaN pixels.

    Examples
    --------
    >>> import numpy as np
    >>> span(np.ma.masked_greater(np.array([[1, 5, 9]]), 6))
    (np.int64(1), np.int64(5))
    """
    value_range = _value_range(_unmasked(image))
    if value_range is None:
        raise ValueError("image: every pixel is masked or NaN; it has no span")
    return value_range


@image_function
def im_scale(image: ImageArray, n: int, m: int) -> ImageArray:
    """Scale unsigned (or non-negative) integers from ``n`` to ``m`` bits.

    Values are represented exactly only when ``m`` is a multiple of ``n``; the
    result is an integer type of the input's kind wide enough for ``m`` bits.

    Examples
    --------
    >>> import numpy as np
    >>> im_scale(np.array([[0, 1, 255]], np.uint8), 8, 16).tolist()
    [[0, 257, 65535]]
    """
    data = np.asarray(image.data)
    if data.dtype.kind not in "ui":
        raise ValueError(f"image: im_scale needs integer data, not {data.dtype}")
    if not (0 < n <= 64 and 0 < m <= 64):
        raise ValueError(f"n and m must be bit counts in 1..64, not {n} and {m}")
    if m < n:
        _prec_loss(data.dtype, _int_dtype(data.dtype.kind, m))
    return image._derive(_scale_bits(data, int(n), int(m)))


# ------------------------------------------------------------------ contrast
def _pair(value, name: str) -> tuple[float, float]:
    """Return ``value`` as two finite floats ``(low, high)`` or raise naming ``name``."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a pair of numbers (low, high), not {value!r}")
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a pair of numbers (low, high), not {value!r}") from None
    if not all(isinstance(v, numbers.Real) for v in (low, high)):
        raise TypeError(f"{name}: expected a pair of numbers (low, high), not {value!r}")
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name}: the values must be finite, not {value!r}")
    return low, high


def _fractions(value, name: str) -> tuple[float, float]:
    """Return a pair of cumulative-distribution fractions with ``0 <= low < high <= 1``."""
    low, high = _pair(value, name)
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"{name}: must be fractions of the distribution with 0 <= low < high <= 1, not {value!r}")
    return low, high


def _real(value, name: str) -> float:
    """Return ``value`` as a finite float or raise naming ``name``."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: must be a real number, not {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: must be finite, not {value}")
    return value


def _check_ordered(image: ImageArray) -> np.ndarray:
    """Return the plain pixel data, refusing dtypes whose intensities cannot be ordered."""
    data = np.asarray(image.data)
    if data.dtype.kind not in "uif":
        raise ValueError(f"image: needs integer or float intensities, not {data.dtype}")
    return data


def _unmasked_values(image: ImageArray) -> np.ndarray:
    """Return the unmasked, finite pixel values as a 1-D array (a view where possible)."""
    values = _unmasked(image).ravel()
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]
    if values.size == 0:
        raise ValueError("image: every pixel is masked or not finite; there is no distribution to use")
    return values


def _unmasked_quantiles(image: ImageArray, fractions) -> tuple[float, ...]:
    """:func:`numpy.quantile` of the unmasked, finite pixels, with no second copy of the data.

    ``np.quantile`` partitions a copy of what it is given; when the values are already
    a copy (masked or NaN pixels left out, or padded, non-contiguous data flattened)
    that copy is partitioned in place instead.
    """
    values = _unmasked_values(image)
    owned = not np.may_share_memory(values, image.data)
    return tuple(float(v) for v in np.quantile(values, fractions, overwrite_input=owned))


def _holds_exactly(dtype: np.dtype, values) -> bool:
    """Whether every number in ``values`` is stored exactly in ``dtype``."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        return False
    if values.size == 0:
        return True
    if dtype.kind in "ui":
        if values.dtype.kind == "f" and not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
            return False
        info = np.iinfo(dtype)
        return bool(info.min <= values.min() and values.max() <= info.max)
    if dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            cast = values.astype(dtype)
        same = cast == values
        if values.dtype.kind == "f":
            same |= np.isnan(cast) & np.isnan(values)
        return bool(np.all(same))
    return dtype.kind == "b" and values.dtype.kind == "b"


def _as_float_data(image: ImageArray) -> np.ndarray:
    """Return the pixels as floats: floats as they are, integers divided by their type's maximum."""
    data = np.asarray(image.data)
    if data.dtype.kind == "f":
        return data
    if data.dtype.kind not in "biu":
        raise ValueError(f"image: needs integer, bool or float intensities, not {data.dtype}")
    return _convert_array(data, np.dtype(np.float64), uniform=False, normalise=True)


@image_function
def adjust_contrast(image: ImageArray, lims=(0.1, 0.9), percent: bool = True) -> ImageArray:
    """Stretch the intensity between two limits with :func:`skimage.exposure.rescale_intensity`.

    Pixels at or below the lower limit go to the bottom of the output range,
    pixels at or above the upper limit to the top, and those between are
    scaled linearly.

    Parameters
    ----------
    image : ImageArray
        Input image (integer or float).
    lims : (low, high), default (0.1, 0.9)
        The input limits.  With ``percent`` they are fractions (0..1) of the
        cumulative distribution of the unmasked, finite pixels (the default
        drops the darkest and brightest 10 %); otherwise absolute intensities.
    percent : bool, default True
        Whether ``lims`` are fractions of the distribution (True) or intensities.

    Returns
    -------
    ImageArray
        The rescaled image, of the input's dtype, with its mask and metadata;
        ``metadata["adjust_contrast"]`` holds the absolute limits used as a
        tuple of floats ``(vmin, vmax)``.

    Raises
    ------
    ValueError
        If ``lims`` is not a pair with ``low < high`` (fractions in 0..1 with
        ``percent``), or if both limits fall on the same intensity.

    Notes
    -----
    The output range is scikit-image's ``out_range="dtype"``, as in the Stoner
    package: an integer image fills its type's whole range (``0..65535`` for
    ``uint16``); a float image goes to [0, 1] when the lower limit is >= 0 and
    to [-1, 1] when it is negative.  The percentiles are those of
    :func:`numpy.quantile` (linear interpolation) over the unmasked, finite
    pixels; the stretch itself is applied to every pixel, masked ones included,
    so removing the mask later shows consistent values.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[0.0, 0.1, 0.2, 0.3, 0.4]]))
    >>> out = im.adjust_contrast((0.1, 0.3), percent=False)
    >>> out.round(3).tolist(), out["adjust_contrast"]
    ([[0.0, 0.0, 0.5, 1.0, 1.0]], (0.1, 0.3))
    >>> im.adjust_contrast((0.25, 0.75))["adjust_contrast"]
    (0.1, 0.3)
    """
    from skimage.exposure import rescale_intensity

    data = _check_ordered(image)
    if percent:
        low, high = _fractions(lims, "lims")
        vmin, vmax = _unmasked_quantiles(image, [low, high])
        if vmin == vmax:
            raise ValueError(
                f"image: the {low:g} and {high:g} fractions of the distribution are both {vmin:g}; "
                "no contrast to stretch (widen lims)"
            )
    else:
        vmin, vmax = _pair(lims, "lims")
        if not vmin < vmax:
            raise ValueError(f"lims: the lower limit must be below the upper one, not {lims!r}")
    result = image._derive(rescale_intensity(data, in_range=(vmin, vmax)))
    result.metadata["adjust_contrast"] = (vmin, vmax)
    return result


@image_function
def quantize(image: ImageArray, output, levels=None) -> ImageArray:
    """Map the intensity onto fixed output values, one per band of input intensities.

    Parameters
    ----------
    image : ImageArray
        Input image (integer or float).
    output : sequence of numbers
        The ``n`` output values, one per band, from the lowest band up.
    levels : sequence of numbers, optional
        The band boundaries, increasing:

        * ``None`` (default): ``n`` bands of equal width spanning the unmasked,
          finite pixels' range ``[min, max]``;
        * ``n - 1`` values: the boundaries between bands; the lowest and highest
          bands extend without limit, so every pixel is mapped;
        * ``n + 1`` values: the edges of every band; pixels below the first or
          above the last edge are left as they are.

    Returns
    -------
    ImageArray
        The quantised image with the input's mask and metadata.  It keeps the
        input's dtype when that holds every output value exactly, otherwise it
        has NumPy's common type of the input and ``output``.

    Raises
    ------
    ValueError
        If ``output`` is empty or not 1-D numbers, ``levels`` does not increase
        or has neither ``n - 1`` nor ``n + 1`` values.

    Notes
    -----
    A pixel of value ``v`` goes to band ``i`` when ``e[i] < v <= e[i + 1]``, the
    Stoner convention (the first band also includes its lower edge, so the
    bands cover ``[e[0], e[n]]`` exactly); it is :func:`numpy.digitize` with
    ``right=True`` on the inner boundaries.  As in the Stoner package, masked
    pixels are ignored for the data range and keep their values (and their
    mask), and NaN pixels stay NaN.  Stoner's default bands are widened by 1 %
    of the range on each side so the extremes fall inside; here the equal bands
    span exactly ``[min, max]`` and include both ends.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]]))
    >>> im.quantize([-1, 1]).tolist()
    [[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]]
    >>> im.quantize([0, 1, 2], levels=[0.3, 0.7]).tolist()
    [[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]]
    >>> im.quantize([5], levels=[0.1, 0.9]).tolist()
    [[0.0, 5.0, 5.0, 5.0, 5.0, 1.0]]
    """
    out_vals = np.asarray(output)
    if out_vals.ndim != 1 or out_vals.size == 0 or out_vals.dtype.kind not in "biuf":
        raise ValueError(f"output: expected a non-empty sequence of numbers, not {output!r}")
    n = out_vals.size
    data = _check_ordered(image)
    outer = None
    if levels is None:
        value_range = _value_range(_unmasked(image), finite=True)
        if value_range is None:
            raise ValueError("image: every pixel is masked or not finite; there is no distribution to use")
        inner = np.linspace(float(value_range[0]), float(value_range[1]), n + 1)[1:-1]
    else:
        try:
            edges = np.asarray(levels, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"levels: expected a sequence of numbers, not {levels!r}") from None
        if edges.ndim != 1 or np.isnan(edges).any():
            raise ValueError(f"levels: expected a 1-D sequence of numbers, not {levels!r}")
        if np.any(np.diff(edges) < 0):
            raise ValueError(f"levels: must increase, not {levels!r}")
        if edges.size == n - 1:
            inner = edges
        elif edges.size == n + 1:
            inner, outer = edges[1:-1], (edges[0], edges[-1])
        else:
            raise ValueError(
                f"levels: {n} output values need {n - 1} boundaries or {n + 1} band edges, not {edges.size}"
            )
    dtype = data.dtype if _holds_exactly(data.dtype, out_vals) else np.result_type(data.dtype, out_vals.dtype)
    result = out_vals.astype(dtype)[np.searchsorted(inner, data, side="left")]
    keep = np.ma.getmaskarray(image) if np.ma.getmask(image) is not np.ma.nomask else None
    if data.dtype.kind == "f":
        keep = np.isnan(data) if keep is None else keep | np.isnan(data)
    if outer is not None:
        outside = (data < outer[0]) | (data > outer[1])
        keep = outside if keep is None else keep | outside
    if keep is not None and keep.any():
        np.copyto(result, data, where=keep, casting="unsafe")
    return image._derive(result)


@image_function
def remove_outliers(image: ImageArray, percentiles=(0.01, 0.99), replace=None) -> ImageArray:
    """Replace the pixels beyond two fractions of the intensity distribution.

    Parameters
    ----------
    image : ImageArray
        Input image (integer or float).
    percentiles : (low, high), default (0.01, 0.99)
        Fractions (0..1) of the cumulative distribution of the unmasked, finite
        pixels: pixels below the ``low`` quantile or above the ``high`` quantile
        are outliers (the default treats the darkest and brightest 1 % so).
    replace : number or (low_value, high_value), optional
        What the outliers become.  ``None`` (default) uses the quantile values
        themselves, i.e. clips the intensity to them; one number replaces both
        kinds (e.g. ``np.nan`` in a float image); a pair gives the value for the
        low and for the high outliers.

    Returns
    -------
    ImageArray
        The image, of the input's dtype, with its mask and metadata.

    Raises
    ------
    ValueError
        If ``percentiles`` are not fractions with ``low < high``, or the image's
        dtype cannot hold the ``replace`` values exactly (e.g. NaN or 0.5 in an
        integer image: convert with :func:`asfloat` first).

    Notes
    -----
    The limits are :func:`numpy.quantile` (linear interpolation) of the
    unmasked, finite pixels; Stoner interpolated a 1000-bin cumulative
    histogram, which agrees to within a bin.  For an integer image the limits
    are rounded to the nearest integer so the dtype is kept.  Masked pixels are
    neither counted nor replaced, and NaN pixels stay NaN.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[-50.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]]))
    >>> im.remove_outliers((0.1, 0.9)).tolist()
    [[1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0]]
    >>> im.remove_outliers((0.1, 0.9), replace=np.nan).tolist()
    [[nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, nan]]
    """
    data = _check_ordered(image)
    frac_low, frac_high = _fractions(percentiles, "percentiles")
    low, high = _unmasked_quantiles(image, [frac_low, frac_high])
    if data.dtype.kind in "ui":
        low, high = int(round(low)), int(round(high))
    if replace is None:
        fill_low, fill_high = low, high
    else:
        if isinstance(replace, numbers.Number):
            fill_low = fill_high = replace
        else:
            try:
                fill_low, fill_high = replace
            except (TypeError, ValueError):
                raise ValueError(f"replace: expected None, a number or a pair of numbers, not {replace!r}") from None
        if not _holds_exactly(data.dtype, [fill_low, fill_high]):
            raise ValueError(
                f"replace: an image of dtype {data.dtype} cannot hold {replace!r} exactly; convert it with asfloat()"
            )
    mask = np.ma.getmask(image)
    if replace is None:
        result = np.clip(data, low, high)
        if mask is not np.ma.nomask:
            np.copyto(result, data, where=mask)
    else:
        result = data.copy()
        below, above = data < low, data > high
        if mask is not np.ma.nomask:
            below &= ~mask
            above &= ~mask
        result[below] = fill_low
        result[above] = fill_high
    return image._derive(result)


@image_function
def threshold_minmax(image: ImageArray, threshmin: float = 0.1, threshmax: float = 0.9) -> ImageArray:
    """Return a bool image, True where ``threshmin < value < threshmax``.

    Parameters
    ----------
    image : ImageArray
        Input image.
    threshmin, threshmax : float, default 0.1 and 0.9
        The thresholds, both exclusive, on the float intensity scale: a float
        image is compared as it is, an integer image after :func:`convert` to
        float (divided by its type's maximum, so 0.5 is half of 65535 for
        ``uint16``), as in the Stoner package.  The image is not normalised to
        its own range first: call :func:`normalise` (``scale=(0, 1)``) for that.

    Returns
    -------
    ImageArray
        A bool image with the input's mask and metadata (so
        ``ImageFile.threshold_minmax`` replaces the file's image with it).
        Masked pixels are computed like the others and stay masked; use
        ``result.filled(False)`` to drop them.

    Raises
    ------
    ValueError
        If ``threshmin`` is not below ``threshmax``.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[0.0, 0.1, 0.5, 0.9, 1.0]]))
    >>> im.threshold_minmax().tolist()
    [[False, False, True, False, False]]
    >>> ImageArray(np.array([[0, 32768, 65535]], np.uint16)).threshold_minmax(0.4, 0.6).tolist()
    [[False, True, False]]
    """
    low, high = _real(threshmin, "threshmin"), _real(threshmax, "threshmax")
    if not low < high:
        raise ValueError(f"threshmin ({threshmin}) must be below threshmax ({threshmax})")
    values = _as_float_data(image)
    result = values > low
    result &= values < high
    return image._derive(result)


@image_function
def subtract_image(image: ImageArray, background, contrast: float = 16, clip: bool = True, offset: float = 0.5):
    """Subtract a background image and amplify the difference: ``contrast * (image - background) + offset``.

    Parameters
    ----------
    image : ImageArray
        Input image.
    background : ImageArray, ImageFile or numpy.ndarray
        The background, of the same shape as the image.
    contrast : float, default 16
        The factor the difference is multiplied by.
    clip : bool, default True
        Clip the result to [0, 1], the display range of a float image.
    offset : float, default 0.5
        Added after the multiplication, so "no difference" is mid-grey.

    Returns
    -------
    ImageArray
        A float image with the input's metadata and the union (OR) of both
        masks.

    Raises
    ------
    TypeError
        If ``background`` is not an image or an array.
    ValueError
        If ``background`` does not have the image's shape.

    Notes
    -----
    Both images are first put on the same float scale by the :func:`convert`
    rules: a float image is used as it is, an integer (or bool) image is
    divided by its type's maximum (``uint16``: 65535 -> 1.0).  The result is
    float64, or float32 when both inputs are float32.  Stoner converted the
    image with ``asfloat(normalise=False)`` but not the background, and clipped
    a float result to [-1, 1]; that only gives this result for float inputs in
    [0, 1] with ``offset`` and ``contrast`` keeping the result non-negative.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.array([[0.50, 0.52, 0.60]]))
    >>> im.subtract_image(np.full((1, 3), 0.5)).round(3).tolist()
    [[0.5, 0.82, 1.0]]
    >>> im.subtract_image(np.full((1, 3), 0.5), 2, clip=False, offset=0).round(3).tolist()
    [[0.0, 0.04, 0.2]]
    """
    if not isinstance(background, (np.ndarray, ImageFile)):
        raise TypeError(f"background: must be an ImageArray, ImageFile or numpy array, not {type(background).__name__}")
    back = background.image if isinstance(background, ImageFile) else background
    if not isinstance(back, ImageArray):
        back = ImageArray(back)
    if back.shape != image.shape:
        raise ValueError(f"background: its shape {back.shape} differs from the image's {image.shape}")
    contrast, offset = _real(contrast, "contrast"), _real(offset, "offset")
    result = _as_float_data(image) - _as_float_data(back)
    result *= contrast
    result += offset
    if clip:
        np.clip(result, 0.0, 1.0, out=result)
    mask = np.ma.mask_or(np.ma.getmask(image), np.ma.getmask(back), copy=True)
    out = image._derive(result, keep_mask=False)
    if mask is not np.ma.nomask:
        out.mask = mask
    return out
