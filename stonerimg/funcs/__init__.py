"""Image functions: plain functions taking the image first, bound to ImageArray and ImageFile.

Each module holds one concern (:mod:`.geometry`, :mod:`.intensity`, ...).
:func:`image_function` registers a function once and binds it as a method of
both classes; :func:`apply` runs any array function (scikit-image, SciPy, your
own) while keeping the image's metadata and mask.
"""

from __future__ import annotations

import numpy as np

from ..array import ImageArray
from ._binding import as_image, image_function, registered
from .filters import denoise, filter_image, level_image, sgolay2d
from .fourier import RadialProfile, fft, radial_coordinates, radial_profile
from .geometry import box_to_slices, crop, parse_box, rotate, translate, translate_limits
from .grid import gridimage
from .intensity import (
    adjust_contrast,
    asfloat,
    asint,
    clip_intensity,
    clip_neg,
    convert,
    dtype_limits,
    im_scale,
    normalise,
    quantize,
    remove_outliers,
    span,
    subtract_image,
    threshold_minmax,
)
from .kerr import defect_mask, defect_mask_subtract_image
from .plotting import hist, imshow, plot_histogram
from .profiles import Profile, profile_line
from .registration import align, correct_drift

__all__ = [
    "Profile",
    "RadialProfile",
    "adjust_contrast",
    "align",
    "apply",
    "as_image",
    "asfloat",
    "asint",
    "box_to_slices",
    "clip_intensity",
    "clip_neg",
    "convert",
    "correct_drift",
    "crop",
    "defect_mask",
    "defect_mask_subtract_image",
    "denoise",
    "dtype_limits",
    "fft",
    "filter_image",
    "gridimage",
    "hist",
    "im_scale",
    "image_function",
    "imshow",
    "level_image",
    "normalise",
    "parse_box",
    "plot_histogram",
    "profile_line",
    "quantize",
    "radial_coordinates",
    "radial_profile",
    "registered",
    "remove_outliers",
    "rotate",
    "sgolay2d",
    "span",
    "subtract_image",
    "threshold_minmax",
    "translate",
    "translate_limits",
]


@image_function
def apply(image: ImageArray, func, *args, **kwargs):
    """Run an array function on the pixels, keeping metadata and mask.

    ``func`` gets the plain pixel data (an ``ndarray``, not a masked array, since
    scikit-image and SciPy do not understand masks) followed by ``*args`` and
    ``**kwargs``.

    Parameters
    ----------
    image : ImageArray
        Input image.
    func : callable
        ``func(data, *args, **kwargs)``, e.g. ``skimage.filters.gaussian``.

    Returns
    -------
    ImageArray or object
        An array result becomes an image with the input's metadata (and its mask,
        when the shape is unchanged; a result of another shape has no mask).
        Any other result (a number, a tuple) is returned as it is.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> im = ImageArray(np.eye(5), metadata={"sample": "Py"})
    >>> smooth = im.apply(ndimage.uniform_filter, size=3)
    >>> smooth["sample"], smooth["history"][-1]
    ('Py', 'apply(scipy.ndimage._filters.uniform_filter, size=3)')
    """
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    result = func(np.asarray(image.data), *args, **kwargs)
    if isinstance(result, np.ndarray) and result.ndim >= 1:
        return image._derive(np.asarray(result))
    return result
