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
SUBMODULES = ["array", "disk", "errors", "folder", "imagefile", "metadata", "notebook", "stack"]
# public but kept out of __all__, so that ``from stonerimg import *`` never hides the builtin ``open``
NOT_STARRED = ["open"]


def test_public_surface_is_pinned():
    assert sorted(stonerimg.__all__) == sorted([*PUBLIC_API, "__version__"])
    # in a fresh interpreter: other tests import submodules (cli, demo) that would show up
    code = "import stonerimg; print(' '.join(n for n in dir(stonerimg) if not n.startswith('_')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert sorted(out.stdout.split()) == sorted(PUBLIC_API + SUBMODULES + NOT_STARRED)


def test_import_defers_what_it_does_not_need_yet():
    # issue 17: import time; the folder, stack and disk-image modules and tempfile/logging load on first use
    deferred = (
        "stonerimg.folder",
        "stonerimg.stack",
        "stonerimg.disk",
        "stonerimg.lazy",
        "tempfile",
        "logging",
        "shutil",
    )
    code = f"import sys, stonerimg\nprint(' '.join(m for m in {deferred!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    code = (
        "import stonerimg\nprint(stonerimg.ImageStack.__module__, stonerimg.open.__module__, stonerimg.folder.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["stonerimg.stack", "stonerimg.disk.openers", "stonerimg.folder"]


def test_lazy_is_a_deprecated_alias_of_disk():
    # disk images moved from stonerimg/lazy.py to the stonerimg.disk package (issue 16); the old name warns
    code = (
        "import warnings, stonerimg\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    old = stonerimg.lazy\n"
        "print(old.open is stonerimg.open, old.open_raw is stonerimg.disk.open_raw, old.stack_on_disk.__module__)\n"
        "print(*{type(w.message).__name__ for w in caught})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "stonerimg.disk.scratch", "DeprecationWarning"]


def test_disk_image_dir_defaults_to_the_temp_folder_when_first_read():
    code = "import stonerimg, tempfile\nprint(stonerimg.config.disk_image_dir == tempfile.gettempdir())"
    env = {k: v for k, v in __import__("os").environ.items() if k != "STONERIMG_DISK_IMAGE_DIR"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"
