"""Kerr microscope helpers: masks of the defects of raw and difference (subtract) images.

Both give a plain boolean array of the image's shape (``True`` = a defect, as
:mod:`numpy.ma` masks), so the result goes straight to ``image.mask``.  They are
image functions: ``image.defect_mask()`` on an :class:`~stonerimg.ImageArray`
or an :class:`~stonerimg.ImageFile` returns the mask and leaves the image alone.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..array import ImageArray
from ._binding import image_function

__all__ = ["defect_mask", "defect_mask_subtract_image"]


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, not {value!r}")
    return float(value)


def _grow(points: np.ndarray, shape: tuple[int, int], radius: float) -> np.ndarray:
    """Return a mask True within ``radius`` pixels of each ``(row, col)`` point (the pixel itself always)."""
    mask = np.zeros(shape, bool)
    reach = int(np.ceil(radius))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disk = dy**2 + dx**2 <= radius**2
    offsets = np.column_stack([dy[disk], dx[disk]])
    centres = np.rint(points[:, :2]).astype(int)
    for off_y, off_x in offsets:
        rows, cols = centres[:, 0] + off_y, centres[:, 1] + off_x
        inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        mask[rows[inside], cols[inside]] = True
    return mask


@image_function
def defect_mask(
    image: ImageArray,
    *,
    thresh: float = 0.6,
    corner_thresh: float = 0.05,
    radius: float = 1,
    return_extra: bool = False,
):
    """Find the defects of a raw Kerr image: bright regions and small dark spots.

    As the Kerr helper of the Stoner package: the image is converted to float
    (:func:`~stonerimg.funcs.asfloat`), levelled with cubic polynomials in both
    directions (:func:`~stonerimg.funcs.level_image`) and scaled to 0..1; pixels
    brighter than ``thresh`` are defects, and so are the small dark spots that
    scikit-image's :func:`~skimage.feature.corner_fast` marks and
    :func:`~skimage.feature.blob_doh` locates in its response, each grown to a
    disk of ``radius`` pixels.

    Parameters
    ----------
    image : ImageArray
        A raw (unprocessed) 2-D Kerr image.  For a difference image use
        :func:`defect_mask_subtract_image`.
    thresh : float, default 0.6
        Levelled pixels above this (on the 0..1 scale) are defects.
    corner_thresh : float, default 0.05
        ``threshold`` of :func:`~skimage.feature.corner_fast` (on the 0..1 scale).
    radius : float, default 1
        Pixels within this distance of a spot's centre are masked.
    return_extra : bool, default False
        Also return the intermediate steps.

    Returns
    -------
    numpy.ndarray of bool
        The mask, of the image's shape; ``image.mask = mask`` applies it.
    dict, only with ``return_extra``
        ``levelled`` (the 0..1 levelled image), ``corners`` (the corner_fast
        response), ``points`` (``(row, col, sigma)`` of each spot),
        ``spot_mask`` and ``bright_mask``.

    Examples
    --------
    >>> import os, pathlib, pytest
    >>> import stonerimg
    >>> fields = pathlib.Path(os.environ.get("STONERIMG_SAMPLE_DATA", "../shared/data")) / "kerr" / "fields"
    >>> if not fields.is_dir():
    ...     pytest.skip("the Kerr sample images are not here")
    >>> kerr = stonerimg.load(fields / "000_field235_run0_unproccessed.png")
    >>> mask = kerr.defect_mask()
    >>> mask.dtype, mask.shape == kerr.shape
    (dtype('bool'), True)
    >>> kerr.mask = mask  # the defects are left out of every statistic now
    >>> bool(0 < kerr.image.mask.mean() < 0.2)
    True
    """
    from skimage.feature import blob_doh, corner_fast

    from .filters import level_image
    from .intensity import asfloat, normalise

    if image.ndim != 2:
        raise ValueError(f"image: defect_mask needs a 2-D image, not one of shape {image.shape}")
    thresh = _check_fraction(thresh, "thresh")
    corner_thresh = _check_fraction(corner_thresh, "corner_thresh")
    radius = _check_fraction(radius, "radius")
    if radius < 0:
        raise ValueError(f"radius: must be >= 0, not {radius!r}")
    levelled = level_image(asfloat(image), poly_vert=3, poly_horiz=3, mode=None)
    levelled = normalise(levelled, scale=(0.0, 1.0))
    plain = np.asarray(np.ma.getdata(levelled), dtype=np.float64)
    corners = corner_fast(plain, threshold=corner_thresh)
    points = blob_doh(corners, min_sigma=1, max_sigma=20, num_sigma=3, threshold=0.01)
    spots = _grow(points, image.shape, radius)
    bright = plain > thresh
    mask = spots | bright
    if return_extra:
        extra = {"levelled": levelled, "corners": corners, "points": points, "spot_mask": spots, "bright_mask": bright}
        return mask, extra
    return mask


@image_function
def defect_mask_subtract_image(
    image: ImageArray,
    *,
    threshmin: float = 0.25,
    threshmax: float = 0.9,
    denoise_weight: float = 0.1,
    return_extra: bool = False,
):
    """Find the defects of a Kerr difference (subtract) image: a denoised copy between two thresholds.

    As the Kerr helper of the Stoner package: the image is denoised by total
    variation (:func:`~stonerimg.funcs.denoise`, ``weight=denoise_weight``) and
    the pixels with ``threshmin < value < threshmax``
    (:func:`~stonerimg.funcs.threshold_minmax`, on the float intensity scale)
    are the defects.

    Parameters
    ----------
    image : ImageArray
        A 2-D difference image (e.g. :func:`~stonerimg.funcs.subtract_image`).
    threshmin, threshmax : float, default 0.25 and 0.9
        The thresholds, both exclusive.
    denoise_weight : float, default 0.1
        The denoising weight (in the units of the float data).
    return_extra : bool, default False
        Also return ``{"denoised": the denoised image}``.

    Returns
    -------
    numpy.ndarray of bool
        The mask, of the image's shape; ``image.mask = mask`` applies it.

    Examples
    --------
    >>> import os, pathlib, pytest
    >>> import stonerimg
    >>> fields = pathlib.Path(os.environ.get("STONERIMG_SAMPLE_DATA", "../shared/data")) / "kerr" / "fields"
    >>> if not fields.is_dir():
    ...     pytest.skip("the Kerr sample images are not here")
    >>> first, last = (stonerimg.load(p).asfloat() for p in sorted(fields.glob("*.png"))[::7])
    >>> difference = (last.image - first.image) * 20  # the change of contrast between two fields
    >>> mask = difference.defect_mask_subtract_image()
    >>> mask.dtype, mask.shape == difference.shape
    (dtype('bool'), True)
    >>> difference.mask = mask
    """
    from .filters import denoise
    from .intensity import threshold_minmax

    if image.ndim != 2:
        raise ValueError(f"image: defect_mask_subtract_image needs a 2-D image, not one of shape {image.shape}")
    denoised = denoise(image, weight=denoise_weight)
    mask = np.asarray(np.ma.getdata(threshold_minmax(denoised, threshmin, threshmax)), dtype=bool)
    if return_extra:
        return mask, {"denoised": denoised}
    return mask
