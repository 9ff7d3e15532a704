"""Intensity: dtype conversion, scaling, clipping and the range of an image.

The conversion rules are those of scikit-image's ``img_as_*`` family (floats
live in [0, 1] or [-1, 1], integers use their whole range), extended to every
integer width and with warnings when precision or sign is lost.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..array import ImageArray
from ..errors import ConversionWarning
from ._binding import image_function
from .geometry import box_to_slices

__all__ = [
    "asfloat",
    "asint",
    "clip_intensity",
    "clip_neg",
    "convert",
    "dtype_limits",
    "im_scale",
    "normalise",
    "span",
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


def _prec_loss(dtype_in: np.dtype, dtype_out: np.dtype) -> None:
    warnings.warn(
        f"possible precision loss converting image of type {dtype_in} to {dtype_out}",
        ConversionWarning,
        stacklevel=5,
    )


def _sign_loss(dtype_in: np.dtype, dtype_out: np.dtype) -> None:
    warnings.warn(
        f"negative values clipped converting image of type {dtype_in} to {dtype_out} (sign loss)",
        ConversionWarning,
        stacklevel=5,
    )


def _scale_bits(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """Scale non-negative integers from ``n`` to ``m`` bits (exact when m is a multiple of n)."""
    kind = a.dtype.kind
    if n == m:
        return a.copy()
    if n > m:
        if a.size and a.max() < 2**m:
            # the values already fit: keep them, as scikit-image does
            return a.astype(_int_dtype(kind, m))
        out = np.empty(a.shape, _int_dtype(kind, m))
        np.floor_divide(a, 2 ** (n - m), out=out, dtype=a.dtype, casting="unsafe")
        return out
    if m % n == 0:
        out = np.empty(a.shape, _int_dtype(kind, m))
        np.multiply(a, (2**m - 1) // (2**n - 1), out=out, dtype=out.dtype)
        return out
    o = (m // n + 1) * n  # scale up to a multiple of n, then down
    out = np.empty(a.shape, _int_dtype(kind, o))
    np.multiply(a, (2**o - 1) // (2**n - 1), out=out, dtype=out.dtype)
    out //= 2 ** (o - m)
    return out.astype(_int_dtype(kind, m), copy=False)


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
        if data.size and (np.nanmin(data) < low or np.nanmax(data) > 1.0):
            if kind_out == "u" and np.nanmin(data) < 0:
                _sign_loss(dtype_in, dtype_out)
            warnings.warn(
                f"float values outside [{low:g}, 1] clipped converting to {dtype_out}; normalise() first to keep them",
                ConversionWarning,
                stacklevel=5,
            )
        info = np.iinfo(dtype_out)
        work = np.float32 if bits_out <= 16 and bits_in <= 32 else np.float64
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
        return np.nan_to_num(out, nan=0.0).astype(dtype_out)
    info_in = np.iinfo(dtype_in)
    if kind_out == "f":
        if not normalise:
            return data.astype(dtype_out)
        work = np.float32 if bits_in <= 16 and bits_out <= 32 else np.float64
        if kind_in == "u":
            out = np.multiply(data, 1.0 / info_in.max, dtype=work)
        else:
            out = np.multiply(data, 1.0 / info_in.max, dtype=work)
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
    """
    result = image if image.dtype.kind == "f" else convert(image, np.float64, normalise=normalise)
    if clip or clip_negative:
        result = clip_intensity(result, clip_negative=clip_negative)
    return result


@image_function
def asint(image: ImageArray, dtype=np.uint16) -> ImageArray:
    """Return the image converted to an integer type (default ``uint16``) with :func:`convert`.

    May warn (:class:`~stonerimg.ConversionWarning`) about loss of precision or sign.
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
    """Set negative pixels to 0."""
    data = np.asarray(image.data)
    return image._derive(np.where(data < 0, np.zeros((), data.dtype), data))


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
    values = np.ma.compressed(region)
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if values.size == 0:
        raise ValueError("image: no unmasked finite pixels to take the input range from")
    low_frac, high_frac = limits
    if not 0.0 <= low_frac < high_frac <= 1.0:
        raise ValueError(f"limits must be fractions with 0 <= low < high <= 1, not {limits!r}")
    if (low_frac, high_frac) == (0.0, 1.0):
        low, high = float(values.min()), float(values.max())
    else:
        low, high = (float(v) for v in np.quantile(values, [low_frac, high_frac]))
    if high == low:
        raise ValueError(f"image: all pixels used for the input range have the value {low}; cannot normalise")
    data = np.asarray(image.data, dtype=np.float64)
    result = (data - low) * ((out_high - out_low) / (high - low)) + out_low
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
    values = np.ma.compressed(image)
    if values.dtype.kind in "fc":
        values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("image: every pixel is masked or NaN; it has no span")
    return values.min(), values.max()


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
