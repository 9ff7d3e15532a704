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
from .formats import load, save
from .funcs import image_function
from .imagefile import ImageFile
from .metadata import Metadata

# imported on first use (PEP 562), so ``import stonerimg`` does not pay for them: name -> module
_ON_FIRST_USE = {
    "ImageFolder": "folder",
    "ImageStack": "stack",
    "empty": "disk",
    "like": "disk",
    "zeros": "disk",
    "open": "disk",  # stonerimg.open opens an image lazily (kept out of __all__)
    "disk": "disk",
    "folder": "folder",
    "lazy": "lazy",  # deprecated alias of disk (one release); left out of dir()
    "stack": "stack",
}


def __getattr__(name: str):
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'stonerimg' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(f".{module}", __name__)
    value = loaded if name == module else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_ON_FIRST_USE) - {"lazy"})


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
