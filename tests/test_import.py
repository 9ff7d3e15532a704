"""The package imports light and exposes exactly its public API."""

import subprocess
import sys

import stonerimg

HEAVY = ("matplotlib", "h5py", "tifffile", "dask", "PIL", "skimage", "scipy", "xarray", "hyperspy")


def test_import_leaves_heavy_modules_unimported():
    code = (
        "import sys, stonerimg\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules or any(k.startswith(m + '.') for k in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_loading_imports_only_what_the_format_needs(tmp_path):
    path = tmp_path / "x.npy"
    stonerimg.ImageArray([[1, 2], [3, 4]]).save(path)
    code = (
        f"import sys, stonerimg\nstonerimg.load({str(path)!r})\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


PUBLIC_API = [
    "AxisCalibration",
    "Calibration",
    "ConversionWarning",
    "FormatError",
    "ImageArray",
    "ImageFile",
    "ImageFolder",
    "ImageStack",
    "Metadata",
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
SUBMODULES = ["array", "errors", "folder", "imagefile", "lazy", "metadata", "notebook", "stack"]
# public but kept out of __all__, so that ``from stonerimg import *`` never hides the builtin ``open``
NOT_STARRED = ["open"]


def test_public_surface_is_pinned():
    assert sorted(stonerimg.__all__) == sorted([*PUBLIC_API, "__version__"])
    # in a fresh interpreter: other tests import submodules (cli, demo) that would show up
    code = "import stonerimg; print(' '.join(n for n in dir(stonerimg) if not n.startswith('_')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert sorted(out.stdout.split()) == sorted(PUBLIC_API + SUBMODULES + NOT_STARRED)
