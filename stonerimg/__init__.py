"""stonerimg: scientific images that carry their own metadata.

The public API::

    import stonerimg
    im = stonerimg.load("scan.tif")          # an ImageFile (or an instrument subclass)
    im.crop(10).normalise().save("out.tif")  # image functions work in place and chain
    with stonerimg.open("big.tif") as stack:   # pixels stay in the file (a disk image)
        average = stack.mean()
"""

from . import (
    config,
    formats,
    funcs,  # binds the image functions to ImageArray and ImageFile
)
from .array import AxisCalibration, Calibration, ImageArray
from .errors import ConversionWarning, FormatError
from .folder import ImageFolder
from .formats import load, save
from .funcs import image_function
from .imagefile import ImageFile
from .lazy import empty, like, zeros
from .lazy import open as open  # noqa: A004 - stonerimg.open opens an image lazily (kept out of __all__)
from .metadata import Metadata
from .stack import ImageStack

__version__ = "0.1.0"

# ``open`` is public (``stonerimg.open``) but not in __all__, so ``from stonerimg import *`` never hides the builtin
__all__ = [
    "AxisCalibration",
    "Calibration",
    "ConversionWarning",
    "FormatError",
    "ImageArray",
    "ImageFile",
    "ImageFolder",
    "ImageStack",
    "Metadata",
    "__version__",
    "config",
    "empty",
    "formats",
    "funcs",
    "image_function",
    "like",
    "load",
    "save",
    "zeros",
]
