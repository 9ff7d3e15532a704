"""Geometry: boxes and cropping."""

from __future__ import annotations

import numbers

from ..array import ImageArray
from ._binding import image_function

__all__ = ["box_to_slices", "crop", "parse_box"]


def _border(image: ImageArray, border) -> tuple[int, int, int, int]:
    rows, cols = image.shape[-2:]
    if isinstance(border, numbers.Integral):
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
        raise ValueError(f"box: {which}={value!r} lies outside the image (0..{size})")
    return position


def parse_box(image: ImageArray, box=None) -> tuple[int, int, int, int]:
    """Turn any box form into pixel limits ``(xmin, xmax, ymin, ymax)`` (max exclusive).

    Parameters
    ----------
    image : ImageArray
        The image the box applies to (its last two axes are ``(y, x)``).
    box : None, int, float, str or 4-sequence
        - ``None`` or ``()``: the whole image;
        - ``int`` n: a border of n pixels is removed on every side;
        - ``float`` f in [0, 0.5): a border of that fraction of the width and height;
        - ``str``: the box is read from that metadata key;
        - ``(xmin, xmax, ymin, ymax)``: each an ``int`` pixel coordinate (negative counts
          from the far edge, as in slicing), a ``float`` in [0, 1] as a fraction of the
          width or height measured from the left/top (so ``1.0`` is the far edge), a
          ``float`` > 1 rounded to a pixel, or ``None`` for the image edge.

    Returns
    -------
    tuple of int
        ``(xmin, xmax, ymin, ymax)``.

    Raises
    ------
    ValueError
        If the box is empty, reversed or outside the image.
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
    if isinstance(box, str):
        if box not in image.metadata:
            raise ValueError(f"box: no metadata item {box!r} to read a box from")
        return parse_box(image, image.metadata[box])
    if isinstance(box, numbers.Real) and not isinstance(box, bool):
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
def crop(image: ImageArray, *box, copy: bool = False) -> ImageArray:
    """Crop the image to a box.

    Parameters
    ----------
    image : ImageArray
        The image (a stack ``(n, y, x)`` is cropped in its last two axes).
    *box
        The box in any form :func:`parse_box` accepts, given as one argument
        (``crop((10, 90, 0, None))``, ``crop(10)``, ``crop("roi")``) or as four
        (``crop(10, 90, 0, None)``).
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
    if len(box) == 1:
        box = box[0]
    elif len(box) not in (0, 4):
        raise TypeError(f"crop takes one box or 4 coordinates, not {len(box)} arguments")
    xmin, xmax, ymin, ymax = parse_box(image, box)
    result = image[..., ymin:ymax, xmin:xmax]
    if copy:
        result = result.copy()
    md = result.metadata
    for axis, start in (("x", xmin), ("y", ymin)):
        if start and f"calibration.{axis}.scale" in md:
            md[f"calibration.{axis}.offset"] = float(md.get(f"calibration.{axis}.offset", 0.0)) + start * float(
                md[f"calibration.{axis}.scale"]
            )
    return result
