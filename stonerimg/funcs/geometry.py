"""Geometry: boxes, cropping, rotation and translation.

The exact quarter turns and mirrors (``CW``, ``CCW``, ``flip_h``, ``flip_v``) are
properties of :class:`~stonerimg.ImageArray`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..array import ImageArray
from ..notebook.selection import Selection
from ._binding import image_function

__all__ = ["box_to_slices", "crop", "parse_box", "rotate", "translate", "translate_limits"]


def _border(image: ImageArray, border) -> tuple[int, int, int, int]:
    rows, cols = image.shape[-2:]
    if type(border) is int or isinstance(border, numbers.Integral):
        bx = by = int(border)
    else:
        if not 0.0 <= border < 0.5:
            raise ValueError(f"box: a float border must be a fraction in [0, 0.5), not {border!r}")
        bx, by = round(cols * border), round(rows * border)
    if bx < 0 or 2 * bx >= cols or 2 * by >= rows:
        raise ValueError(f"box: a border of {border!r} leaves nothing of a {cols} x {rows} image")
    return (bx, cols - bx, by, rows - by)


def _coordinate(value, size: int, default: int, which: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"box: {which} must be an int, a float or None, not {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        position = int(value)
        if position < 0:
            position += size
    elif 0.0 <= value <= 1.0:
        position = round(value * size)
    elif value > 1.0:
        position = round(value)
    else:
        raise ValueError(f"box: {which}={value!r}; a float must be a fraction in [0, 1] or a pixel > 1")
    if not 0 <= position <= size:
        raise ValueError(
            f"box: {which}={value!r} lies outside the image (0..{size}); a box partly outside the image is an "
            f"error, not clipped -- give limits inside it (e.g. {which}=None for the edge)"
        )
    return position


def parse_box(image: ImageArray, box=None) -> tuple[int, int, int, int]:
    """Turn any box form into pixel limits ``(xmin, xmax, ymin, ymax)`` (max exclusive).

    Parameters
    ----------
    image : ImageArray
        The image the box applies to (its last two axes are ``(y, x)``).
    box : None, int, float, str, 4-sequence or Selection
        - ``None`` or ``()``: the whole image;
        - ``int`` n: a border of n pixels is removed on every side;
        - ``float`` f in [0, 0.5): a border of that fraction of the width and height;
        - ``str``: the box is read from that metadata key;
        - ``(xmin, xmax, ymin, ymax)``: each an ``int`` pixel coordinate (negative counts
          from the far edge, as in slicing), a ``float`` in [0, 1] as a fraction of the
          width or height measured from the left/top (so ``1.0`` is the far edge), a
          ``float`` > 1 rounded to a pixel, or ``None`` for the image edge;
        - a :class:`~stonerimg.notebook.selection.Selection` (from ``image.select``): its ``box``.

    Returns
    -------
    tuple of int
        ``(xmin, xmax, ymin, ymax)``.

    Raises
    ------
    ValueError
        If the box is empty, reversed, or reaches outside the image.  A box
        partly outside is not clipped to the image (as NumPy slicing and the
        Stoner package would): a limit beyond the edge usually means coordinates
        of another image or a typo, and a silently smaller region would give a
        result that is almost right.  Use ``None`` for "up to the edge".
    TypeError
        If the box is of a form not listed above.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.zeros((20, 100)))
    >>> parse_box(im, 5), parse_box(im, 0.1), parse_box(im, (10, -10, None, 0.5))
    ((5, 95, 5, 15), (10, 90, 2, 18), (10, 90, 0, 10))
    """
    if image.ndim < 2:
        raise ValueError("box: the image must have at least 2 dimensions")
    rows, cols = image.shape[-2:]
    if box is None or (isinstance(box, (tuple, list)) and len(box) == 0):
        return (0, cols, 0, rows)
    if isinstance(box, Selection):
        box = box.box
    if isinstance(box, str):
        if box not in image.metadata:
            raise ValueError(f"box: no metadata item {box!r} to read a box from")
        return parse_box(image, image.metadata[box])
    if type(box) is int or (isinstance(box, numbers.Real) and not isinstance(box, bool)):
        return _border(image, box)
    if not hasattr(box, "__len__") or len(box) != 4:
        raise TypeError(f"box must be None, an int, a float, a metadata key or 4 values, not {box!r}")
    xmin, xmax, ymin, ymax = box
    limits = (
        _coordinate(xmin, cols, 0, "xmin"),
        _coordinate(xmax, cols, cols, "xmax"),
        _coordinate(ymin, rows, 0, "ymin"),
        _coordinate(ymax, rows, rows, "ymax"),
    )
    if limits[0] >= limits[1] or limits[2] >= limits[3]:
        raise ValueError(f"box {tuple(box)!r} selects no pixels of a {cols} x {rows} image (gives {limits})")
    return limits


def box_to_slices(image: ImageArray, box=None) -> tuple[slice, slice]:
    """``(row_slice, col_slice)`` that select ``box`` (any form :func:`parse_box` accepts)."""
    xmin, xmax, ymin, ymax = parse_box(image, box)
    return slice(ymin, ymax), slice(xmin, xmax)


@image_function
def crop(image: ImageArray, *args, box=None, copy: bool = False) -> ImageArray:
    """Crop the image to a box.

    Parameters
    ----------
    image : ImageArray
        The image (a stack ``(n, y, x)`` is cropped in its last two axes).
    *args
        The box in any form :func:`parse_box` accepts, given as one argument
        (``crop((10, 90, 0, None))``, ``crop(10)``, ``crop("roi")``) or as four
        (``crop(10, 90, 0, None)``).
    box : optional
        The box as a keyword (``crop(box=(10, 90, 0, None))``, as Stoner code
        writes it), instead of ``*args``.  ``crop(None)`` is the whole image.
        With no box at all, ``crop()`` shows the image and waits for a box drawn
        with the mouse (finished with enter), as in Stoner; where nothing can
        wait (a notebook, a non-interactive backend) it raises a RuntimeError
        pointing to ``image.crop(image.select("box"))``.
    copy : bool, default False
        Return a copy instead of a view that shares memory with ``image``.

    Returns
    -------
    ImageArray
        The cropped image with its mask cropped too; a calibrated image's
        ``calibration.{x,y}.offset`` is moved so physical coordinates stay the same.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.arange(12).reshape(3, 4))
    >>> im.crop(1, 3, None, None).tolist()
    [[1, 2], [5, 6], [9, 10]]
    """
    if box is not None:
        if args:
            raise TypeError("crop: give the box either as arguments or as box=, not both")
    elif len(args) == 1:
        box = args[0]
    elif len(args) == 4:
        box = args
    elif args:
        raise TypeError(f"crop takes one box or 4 coordinates, not {len(args)} arguments")
    else:  # crop() with no box at all: Stoner's form, the box is drawn with the mouse
        from ..notebook.select import by_hand

        box = by_hand(image, "box", "crop()")
    xmin, xmax, ymin, ymax = parse_box(image, box)
    result = image[..., ymin:ymax, xmin:xmax]
    if copy:
        result = result.copy()
    md = result._peek_metadata()  # read without copying; the copy is made only if something moves
    band = md.get("annotation.band")  # rows an instrument burnt its annotation into (Kerr images)
    if band is not None:
        try:
            first, stop = max(int(band[0]), ymin) - ymin, min(int(band[1]), ymax) - ymin
        except (TypeError, ValueError, IndexError):
            first = stop = 0
        if (first, stop) != (band[0], band[1]):
            if first < stop:
                result._metadata["annotation.band"] = (first, stop)
            else:
                del result._metadata["annotation.band"]
    for axis, start in (("x", xmin), ("y", ymin)):
        if start and f"calibration.{axis}.scale" in md:
            offset = float(md.get(f"calibration.{axis}.offset", 0.0)) + start * float(md[f"calibration.{axis}.scale"])
            result._metadata[f"calibration.{axis}.offset"] = offset
    return result


# --------------------------------------------------------------- rotate, translate
# Boundary modes in numpy.pad's vocabulary (that of scikit-image and of Stoner), with the
# scipy.ndimage names that do not clash accepted as aliases.  scipy's own "reflect" is
# numpy.pad's "symmetric", so "reflect" here always has numpy.pad's meaning.
_MODES = {
    "constant": "constant",
    "edge": "edge",
    "symmetric": "symmetric",
    "reflect": "reflect",
    "wrap": "wrap",
    "nearest": "edge",
    "mirror": "reflect",
    "grid-mirror": "symmetric",
    "grid-constant": "constant",
    "grid-wrap": "wrap",
}
_NDIMAGE_MODES = {
    "constant": "grid-constant",
    "edge": "nearest",
    "symmetric": "reflect",
    "reflect": "mirror",
    "wrap": "grid-wrap",
}
# sample points this close to the span of pixel centres count as inside it (rounding error)
_TOLERANCE = 1e-6


def _mode(mode) -> str:
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"mode: must be one of {', '.join(map(repr, _MODES))}, not {mode!r}")
    return _MODES[mode]


def _real(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what}: must be a real number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what}: must be finite, not {value!r}")
    return value


def _pair(image: ImageArray, value, what: str) -> tuple[float, float]:
    """Read an ``(x, y)`` pair (or a metadata key holding one)."""
    if isinstance(value, str):
        if value not in image.metadata:
            raise ValueError(f"{what}: no metadata item {value!r} to read an (x, y) pair from")
        value = image.metadata[value]
    try:
        x, y = value
    except (TypeError, ValueError):
        raise TypeError(f"{what}: must be an (x, y) pair of numbers, not {value!r}") from None
    return _real(x, what), _real(y, what)


def _order(order, default: int) -> int:
    if order is None:
        return default
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or not 0 <= order <= 5:
        raise ValueError(f"order: must be an int from 0 to 5, not {order!r}")
    return int(order)


def _interpolated_dtype(dtype: np.dtype, order: int) -> np.dtype:
    """Return the dtype of an image interpolated with spline ``order`` (as scikit-image does)."""
    if order == 0:
        return dtype
    if dtype.kind == "b":
        raise ValueError(f"order: a bool image can only be resampled with order=0, not order={order}")
    if dtype.kind not in "uif":
        raise ValueError(f"image: cannot resample an image of dtype {dtype}")
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize <= 4 else np.dtype(np.float64)


def _image_mask(image: ImageArray) -> np.ndarray | None:
    """Return the image's mask as a bool array, or None when no pixel is masked."""
    mask = np.ma.getmask(image)
    if mask is np.ma.nomask or not mask.any():
        return None
    return np.asarray(mask, dtype=bool)


def _set_mask(result: ImageArray, mask: np.ndarray | None) -> ImageArray:
    if mask is not None:
        result._set_mask_fast(mask)  # ``mask`` is a new bool array of the right shape that we own
    return result


def _frames(shape: tuple[int, ...]):
    """Iterate over the indices of the 2-D frames of an array of ``shape`` (``()`` once for 2-D)."""
    return np.ndindex(*shape[:-2])


def _rotation_matrix(angle: float, shape: tuple[int, int], center, resize: bool):
    """Return the inverse map (output ``(x, y, 1)`` to input) and the output ``(rows, cols)``.

    Built step by step as :func:`skimage.transform.rotate` builds it (which takes degrees
    counter-clockwise), so both sample exactly the same points.
    """
    from skimage.transform import SimilarityTransform

    rows, cols = shape
    centre = np.array((cols, rows)) / 2.0 - 0.5 if center is None else np.asarray(center, dtype=float)
    rotation = SimilarityTransform(rotation=np.deg2rad(np.rad2deg(-angle)))
    tform = SimilarityTransform(translation=-centre) + rotation + SimilarityTransform(translation=centre)
    out_shape = (rows, cols)
    if resize:
        corners = tform.inverse(np.array([[0, 0], [0, rows - 1], [cols - 1, rows - 1], [cols - 1, 0]]))
        minc, minr = corners.min(axis=0)
        maxc, maxr = corners.max(axis=0)
        out_shape = (int(np.around(maxr - minr + 1)), int(np.around(maxc - minc + 1)))
        tform = SimilarityTransform(translation=(minc, minr)) + tform
    matrix = np.array(tform.params, dtype=float)
    matrix[2] = (0.0, 0.0, 1.0)
    return matrix, out_shape


def _outside_affine(matrix: np.ndarray, out_shape: tuple[int, int], in_shape: tuple[int, int]) -> np.ndarray | None:
    """Return the output pixels whose sample point falls outside the input's pixel centres.

    ``matrix`` maps output ``(x, y, 1)`` to input ``(x, y, 1)``.  Along each output row the
    sample point moves linearly, so the inside part of the row is one interval of columns:
    it is found per row and cleared with one slice per row.  Returns None
    when every sample point is inside.
    """
    out_rows, out_cols = out_shape
    rows = np.arange(out_rows, dtype=float)
    lower = np.zeros(out_rows)
    upper = np.full(out_rows, out_cols - 1.0)
    for k, size in ((0, in_shape[1]), (1, in_shape[0])):
        slope, offset = matrix[k, 0], matrix[k, 1] * rows + matrix[k, 2]
        low, high = -_TOLERANCE, size - 1 + _TOLERANCE
        if abs(slope) < 1e-12:  # the sample point does not move along the row
            upper = np.where((offset >= low) & (offset <= high), upper, -1.0)
        else:
            first, last = (low - offset) / slope, (high - offset) / slope
            lower = np.maximum(lower, np.minimum(first, last))
            upper = np.minimum(upper, np.maximum(first, last))
    first_col, last_col = np.ceil(lower), np.floor(upper)
    if (first_col <= 0).all() and (last_col >= out_cols - 1).all():
        return None
    outside = np.ones(out_shape, dtype=bool)
    starts = np.clip(first_col, 0, out_cols).astype(int).tolist()
    stops = np.clip(last_col + 1, 0, out_cols).astype(int).tolist()
    for row, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        outside[row, start:stop] = False  # a row loop of slices beats two whole-image comparisons
    return outside


@image_function
def rotate(
    image: ImageArray,
    angle: float,
    resize: bool = False,
    center=None,
    order: int | None = None,
    mode: str = "constant",
    cval: float = 0,
    clip: bool = True,
    preserve_range: bool = True,
) -> ImageArray:
    """Rotate the image by ``angle`` radians clockwise about a centre.

    Parameters
    ----------
    image : ImageArray
        The image; a stack ``(n, y, x)`` has each frame rotated in the same way.
    angle : float
        Rotation angle in **radians** (Stoner's convention); positive turns the image
        **clockwise** as it is displayed (row 0 at the top).  The same rotation in
        scikit-image is ``skimage.transform.rotate(data, -np.rad2deg(angle))``.
    resize : bool, default False
        Enlarge the output so the whole rotated image fits (as scikit-image does);
        otherwise the output has the input's shape and the corners are cut off.
    center : (x, y), optional
        The centre of rotation in pixel coordinates; default the centre of the image,
        ``((cols - 1) / 2, (rows - 1) / 2)``.
    order : int, optional
        Spline interpolation order, 0 to 5; default 0 (nearest) for a bool image and
        1 (bilinear) otherwise.
    mode : str, default "constant"
        How points outside the input are filled: ``"constant"`` (with ``cval``),
        ``"edge"``, ``"symmetric"``, ``"reflect"`` or ``"wrap"``, as in
        :func:`numpy.pad`; scipy's names ``"nearest"``, ``"mirror"``, ``"grid-wrap"``,
        ``"grid-constant"``, ``"grid-mirror"`` are accepted for the same modes.
    cval : float, default 0
        The fill value for ``mode="constant"``.
    clip : bool, default True
        Clip the output to the range of the input (and ``cval``), since interpolation
        of order > 1 may overshoot.
    preserve_range : bool, default True
        Keep the intensity values.  False (scikit-image's default) converts an integer
        image to float in [0, 1] (or [-1, 1]) before interpolating, as
        :func:`~stonerimg.funcs.intensity.asfloat` does, and ``cval`` is then in those
        units; ``order=0`` always keeps the values.

    Returns
    -------
    ImageArray
        The rotated image with the input's metadata.  Its dtype: with ``order=0`` the
        input's dtype (nearest-neighbour only moves values); otherwise float (float32
        stays float32, everything else becomes float64).  The mask is rotated with
        nearest-neighbour interpolation; with ``mode="constant"`` every pixel whose
        sample point lies outside the input's pixel centres (the area that was filled
        with ``cval``) is masked too.

    Raises
    ------
    ValueError
        For a non-finite angle or centre, an unknown ``mode``, an ``order`` outside
        0..5 or an ``order`` > 0 on a bool image.
    TypeError
        For an angle, centre or ``cval`` that is not a number (or pair of numbers).

    Notes
    -----
    The interpolation is :func:`skimage.transform.warp` with the transform
    :func:`skimage.transform.rotate` builds, so the pixels equal
    ``skimage.transform.rotate(data, -np.rad2deg(angle), ...)``.  Values under masked
    pixels take part in the interpolation of their neighbours.  The calibration
    metadata is kept as it is (the pixel size is unchanged by a rotation of square
    pixels); ``CW`` and ``CCW`` rotate by exactly 90 degrees without interpolation
    and swap the x and y calibrations.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.zeros((5, 5)))
    >>> im[2, 4] = 1.0  # a dot right of the centre
    >>> turned = im.rotate(np.pi / 2)  # clockwise: right goes to the bottom
    >>> [int(i) for i in np.argwhere(turned > 0.5)[0]]  # (row, col)
    [4, 2]
    >>> ImageArray(np.zeros((80, 300))).rotate(np.pi / 2, resize=True).shape
    (300, 80)
    """
    angle = _real(angle, "angle")
    cval = _real(cval, "cval")
    if center is not None:
        center = _pair(image, center, "center")
    mode = _mode(mode)
    data = np.asarray(image.data)
    if data.ndim < 2 or 0 in data.shape:
        raise ValueError(f"image: cannot rotate an image of shape {data.shape}")
    order = _order(order, 0 if data.dtype.kind == "b" else 1)
    out_dtype = _interpolated_dtype(data.dtype, order)

    from skimage.transform import warp

    matrix, out_shape = _rotation_matrix(angle, data.shape[-2:], center, bool(resize))
    options = {"order": order, "mode": mode, "cval": cval, "clip": clip, "preserve_range": preserve_range}
    if data.ndim == 2:
        out = warp(data, matrix, output_shape=out_shape, **options)
    else:
        out = np.empty(data.shape[:-2] + out_shape, dtype=out_dtype)
        for index in _frames(data.shape):
            out[index] = warp(data[index], matrix, output_shape=out_shape, **options)
    mask = None
    in_mask = _image_mask(image)
    if in_mask is not None:
        mask = _affine_mask(in_mask, matrix, out_shape, mode)
    if mode == "constant":
        outside = _outside_affine(matrix, out_shape, data.shape[-2:])
        if outside is not None:
            mask = np.broadcast_to(outside, out.shape).copy() if mask is None else mask | outside
    return _set_mask(image._derive(out, keep_mask=False), mask)


def _affine_mask(mask: np.ndarray, matrix: np.ndarray, out_shape: tuple[int, int], mode: str) -> np.ndarray:
    """Resample a bool mask (frames in its last two axes) by nearest neighbour.

    ``matrix`` maps output ``(x, y, 1)`` to input ``(x, y, 1)``; pixels from outside
    the input are masked under ``mode="constant"``.
    """
    from scipy import ndimage

    # scipy.ndimage wants (row, col): swap x and y in the matrix
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rc_matrix = swap @ matrix @ swap
    out = np.empty(mask.shape[:-2] + out_shape, dtype=np.uint8)
    source = mask.view(np.uint8)
    for index in _frames(mask.shape):
        ndimage.affine_transform(
            source[index], rc_matrix, output=out[index], order=0, mode=_NDIMAGE_MODES[mode], cval=1
        )
    return out.view(bool)


def _limits(shape: tuple[int, ...], tx: float, ty: float) -> tuple[int, int, int, int]:
    rows, cols = shape[-2:]

    def span(shift: float, size: int) -> tuple[int, int]:
        first = min(max(math.ceil(shift - _TOLERANCE), 0), size)
        stop = min(max(math.floor(size - 1 + shift + _TOLERANCE) + 1, first), size)
        return first, stop

    return (*span(tx, cols), *span(ty, rows))


@image_function
def translate_limits(image: ImageArray, translation, reverse: bool = False) -> tuple[int, int, int, int]:
    """Return the box of the image that still holds original pixels after a translation.

    Parameters
    ----------
    image : ImageArray
        The image (only its shape is used; a stack's frames share the box).
    translation : (x, y) or str
        The shift in pixels that :func:`translate` applies (positive x moves the content
        right, positive y moves it down), or a metadata key holding it (such as
        ``"translation"``, which ``translate(..., add_metadata=True)`` stores).
    reverse : bool, default False
        Use the opposite shift ``(-x, -y)``: the box for undoing the translation.

    Returns
    -------
    tuple of int
        ``(xmin, xmax, ymin, ymax)`` with the maxima exclusive, as :func:`parse_box`
        gives, so ``image.crop(box)`` keeps just those pixels.  A pixel counts when its
        sample point lies within the input's pixel centres, so a sub-pixel shift loses
        a whole pixel at the leading edge.  A shift larger than the image gives an
        empty box (``xmin == xmax`` or ``ymin == ymax``).

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.zeros((20, 100)))
    >>> im.translate_limits((3, -2))
    (3, 100, 0, 18)
    >>> im.translate_limits((3, -2), reverse=True)
    (0, 97, 2, 20)
    >>> im.translate_limits((2.5, 0))
    (3, 100, 0, 20)
    """
    if image.ndim < 2:
        raise ValueError("image: must have at least 2 dimensions")
    tx, ty = _pair(image, translation, "translation")
    if reverse:
        tx, ty = -tx, -ty
    return _limits(image.shape, tx, ty)


def _integer_shift(data: np.ndarray, tx: int, ty: int, mode: str, fill, dtype: np.dtype) -> np.ndarray:
    """Shift by whole pixels without interpolation (modes "wrap" and "constant") into ``dtype``."""
    if mode == "wrap":
        return np.roll(data, (ty, tx), axis=(-2, -1)).astype(dtype, copy=False)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        fill = min(max(round(fill), info.min), info.max)
    out = np.full(data.shape, fill, dtype=dtype)
    rows, cols = data.shape[-2:]
    if abs(tx) < cols and abs(ty) < rows:
        out[..., max(ty, 0) : rows + min(ty, 0), max(tx, 0) : cols + min(tx, 0)] = data[
            ..., max(-ty, 0) : rows + min(-ty, 0), max(-tx, 0) : cols + min(-tx, 0)
        ]
    return out


@image_function
def translate(
    image: ImageArray,
    translation,
    add_metadata: bool = False,
    order: int = 3,
    mode: str = "wrap",
    cval: float | None = None,
) -> ImageArray:
    """Shift the image by ``(x, y)`` pixels, sub-pixel shifts interpolated with splines.

    Parameters
    ----------
    image : ImageArray
        The image; a stack ``(n, y, x)`` has each frame shifted by the same amount.
    translation : (x, y) or str
        The shift in pixels (floats allowed): positive x moves the content right,
        positive y moves it down.  A str reads the pair from that metadata key.
    add_metadata : bool, default False
        Store the shift as ``metadata["translation"] = (x, y)`` and the box that still
        holds original pixels (see :func:`translate_limits`) as
        ``metadata["translation_limits"]``.
    order : int, default 3
        Spline interpolation order, 0 to 5 (3 is bicubic, 1 bilinear and about four
        times faster, 0 nearest neighbour).
    mode : str, default "wrap"
        How the area uncovered by the shift is filled: ``"wrap"`` (periodic, like
        :func:`numpy.roll`), ``"constant"`` (with ``cval``), ``"edge"``, ``"symmetric"``
        or ``"reflect"``, with :func:`numpy.pad`'s meanings (scipy.ndimage's
        ``"grid-wrap"``, ``"grid-constant"``, ``"nearest"``, ``"grid-mirror"`` and
        ``"mirror"``); those scipy names are accepted too.
    cval : float, optional
        The fill value for ``mode="constant"``; default the mean of the unmasked pixels.

    Returns
    -------
    ImageArray
        The shifted image with the input's metadata.  Its dtype: with ``order=0`` the
        input's; otherwise float (float32 stays float32, integers become float64).
        The mask is shifted with it (nearest neighbour); with ``mode="constant"`` the
        pixels outside :func:`translate_limits` (those filled with ``cval``) are masked
        too.

    Raises
    ------
    ValueError
        For a non-finite shift, an unknown ``mode``, an ``order`` outside 0..5, or an
        ``order`` > 0 on a bool image.
    TypeError
        For a shift or ``cval`` that is not a number (or pair of numbers).

    Notes
    -----
    The interpolation is :func:`scipy.ndimage.shift` with the shift ``(y, x)``
    applied to each frame.  Whole-pixel shifts in the modes ``"wrap"`` and
    ``"constant"`` are done exactly by moving the pixels (:func:`numpy.roll` for
    ``"wrap"``), which is also much faster.  The calibration metadata is kept.

    Examples
    --------
    >>> import numpy as np
    >>> im = ImageArray(np.arange(5.0)[None, :])
    >>> im.translate((1, 0)).tolist()  # wraps round by default
    [[4.0, 0.0, 1.0, 2.0, 3.0]]
    >>> moved = im.translate((2, 0), mode="constant", cval=-1)
    >>> moved.data.tolist(), moved.mask.tolist()
    ([[-1.0, -1.0, 0.0, 1.0, 2.0]], [[True, True, False, False, False]])
    """
    tx, ty = _pair(image, translation, "translation")
    order = _order(order, 3)
    mode = _mode(mode)
    data = np.asarray(image.data)
    if data.ndim < 2 or 0 in data.shape:
        raise ValueError(f"image: cannot translate an image of shape {data.shape}")
    out_dtype = _interpolated_dtype(data.dtype, order)
    in_mask = _image_mask(image)
    fill = 0.0
    if cval is not None:
        fill = _real(cval, "cval")
    elif mode == "constant":
        values = data if in_mask is None else data[~in_mask]
        fill = float(values.mean()) if values.size else 0.0

    whole = tx.is_integer() and ty.is_integer() and mode in ("wrap", "constant")
    if whole:
        out = _integer_shift(data, int(tx), int(ty), mode, fill, out_dtype)
    else:
        from scipy import ndimage

        is_bool = data.dtype.kind == "b"  # scipy.ndimage does not take bool arrays: use their bytes
        work = data.view(np.uint8) if is_bool else data
        out = np.empty(data.shape, dtype=np.uint8 if is_bool else out_dtype)
        for index in _frames(data.shape):
            ndimage.shift(work[index], (ty, tx), output=out[index], order=order, mode=_NDIMAGE_MODES[mode], cval=fill)
        if is_bool:
            out = out.view(bool)

    mask = None
    if in_mask is not None:
        if whole:
            mask = _integer_shift(in_mask, int(tx), int(ty), mode, True, np.dtype(bool))
        else:
            shift = np.array([[1.0, 0.0, -tx], [0.0, 1.0, -ty], [0.0, 0.0, 1.0]])
            mask = _affine_mask(in_mask, shift, data.shape[-2:], mode)
    limits = _limits(data.shape, tx, ty)
    if mode == "constant" and limits != (0, data.shape[-1], 0, data.shape[-2]):
        xmin, xmax, ymin, ymax = limits
        outside = np.ones(data.shape[-2:], dtype=bool)
        outside[ymin:ymax, xmin:xmax] = False
        mask = np.broadcast_to(outside, data.shape).copy() if mask is None else mask | outside
    result = _set_mask(image._derive(out, keep_mask=False), mask)
    if add_metadata:
        result.metadata["translation"] = (tx, ty)
        result.metadata["translation_limits"] = limits
    return result
