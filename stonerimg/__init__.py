"""stonerimg: scientific images that carry their own metadata.

The public API::

    import stonerimg
    im = stonerimg.load("scan.tif")          # an ImageFile (or an instrument subclass)
    im.crop(10).normalise().save("out.tif")  # image functions work in place and chain
"""

from . import (
    formats,
    funcs,  # binds the image functions to ImageArray and ImageFile
)
from .array import AxisCalibration, Calibration, ImageArray
from .errors import ConversionWarning, FormatError
from .folder import ImageFolder
from .formats import load, save
from .funcs import image_function
from .imagefile import ImageFile
from .metadata import Metadata
from .stack import ImageStack

__version__ = "0.1.0"

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
    "formats",
    "funcs",
    "image_function",
    "load",
    "save",
]
