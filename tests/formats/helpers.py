"""Helpers shared by the format tests: reference values, deep comparisons, round trips."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
from pathlib import Path

import numpy as np

import stonerimg
from stonerimg import ImageArray, ImageFile

DTYPES = [
    "bool",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


def sample_pixels(dtype, shape=(7, 13)) -> np.ndarray:
    """Non-symmetric pixels that use the extremes of ``dtype`` (and NaN/inf for floats).

    ``"rgb"`` and ``"rgba"`` give 8-bit colour images of that shape.
    """
    if dtype in ("rgb", "rgba"):
        return sample_pixels("uint8", (*shape, len(dtype)))
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    rng = np.random.default_rng(size)
    if dtype.kind == "b":
        data = rng.integers(0, 2, size).astype(bool)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        data[:2] = info.min, info.max
    else:
        real = np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype
        finfo = np.finfo(real)
        data = (rng.standard_normal(size) * 1000).astype(dtype)
        data[:6] = [np.nan, np.inf, -np.inf, finfo.max, finfo.tiny, -0.0]
        if dtype.kind == "c":
            data[6:9] = [complex(1, np.nan), complex(-2.5, 3.25), complex(finfo.max, -finfo.max)]
    return data.reshape(shape)


def a_mask(shape) -> np.ndarray:
    """A few masked pixels in every plane (for colour images, in every channel plane)."""
    mask = np.zeros(shape, dtype=bool)
    mask[..., 0, 1] = True
    mask[..., -2, -1] = True
    mask[..., -1, 0] = True
    return mask


def rich_metadata() -> dict:
    """Metadata holding one of every kind of value the lossless codec promises to keep."""
    return {
        "count": 3,
        "big": 2**70,
        "flag": False,
        "nothing": None,
        "gain": 1.5,
        "not a number": math.nan,
        "minus infinity": -math.inf,
        "impedance": complex(1.25, -2.5),
        "raw": b"\x00\xff\x10binary",
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(1999, 12, 31, 23, 59, 59),
        "day": dt.date(2020, 5, 6),
        "units": "µm",
        "sample": 'Fe₃O₄ "film" on C:\\data\\',
        "channels": ["Dev1/ao0", 2, 3.5, None],
        "pair": (1, 2.5, "x"),
        "stage": {"x": {"value": 1.5, "units": "mm"}, "list": [1, (2, 3)], "ints": {1: "one", (2, 3): [4]}},
        "np.float32": np.float32(1.5),
        "np.int64": np.int64(-5),
        "np.uint16": np.uint16(65535),
        "np.bool_": np.bool_(True),
        "np.complex64": np.complex64(1 - 2j),
        "array": np.array([[1.0, np.nan], [np.inf, -0.0]], dtype=np.float32),
        "int array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "bool array": np.array([True, False, True]),
        "complex array": np.array([1 + 1j, np.nan]),
        "scalar array": np.array(3.5),
        "empty array": np.zeros((0, 3)),
        "big-endian array": np.array([1, 2, 3], dtype=">i4"),
        "history": ["made(by=a test)", "crop(box=(1, 2, 3, 4))"],
    }


def _nan(value) -> bool:
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def assert_same_value(expected, actual, where: str = "value") -> None:
    """Assert equal values *of equal types*, recursively (NaN equals NaN, arrays compared by dtype too)."""
    assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
        assert np.array_equal(actual, expected, equal_nan=expected.dtype.kind in "fc"), where
    elif isinstance(expected, np.generic):
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != {expected.dtype}"
        assert (_nan(expected) and _nan(actual)) or actual == expected, f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same_value(e, a, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(map(str, set(actual) ^ set(expected)))} differ"
        for key in expected:
            assert_same_value(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, (float, complex)) and _nan(expected):
        assert _nan(actual), f"{where}: {actual!r} is not NaN"
    elif isinstance(expected, dt.datetime):
        assert actual == expected and actual.tzinfo == expected.tzinfo, f"{where}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_pixels(expected: np.ndarray, actual) -> None:
    """Same dtype, same shape and identical values (NaN in the same places)."""
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=expected.dtype.kind in "fc")


def snapshot(image: ImageArray) -> dict:
    """Everything a save must not change, copied deeply."""
    return {
        "data": np.array(image.data, copy=True),
        "mask": np.array(np.ma.getmaskarray(image), copy=True),
        "dtype": image.dtype,
        "shape": image.shape,
        "metadata": copy.deepcopy(dict(image.metadata)),
        "metadata object": image.metadata,
        "history object": image.metadata.get("history"),
    }


def assert_unchanged(image: ImageArray, before: dict) -> None:
    """The image is exactly as :func:`snapshot` recorded it."""
    assert image.dtype == before["dtype"]
    assert image.shape == before["shape"]
    assert_same_pixels(before["data"], image.data)
    assert np.array_equal(np.ma.getmaskarray(image), before["mask"])
    assert image.metadata is before["metadata object"]
    if before["history object"] is not None:
        assert image.metadata["history"] is before["history object"]
    assert_same_value(before["metadata"], dict(image.metadata), "metadata")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_round_trip(tmp_path: Path, data: np.ndarray, ext: str, fmt: str, masked: bool) -> None:
    """Save ``data`` with rich metadata (and a mask) as ``ext``; loading gives back exactly the same."""
    mask = a_mask(data.shape) if masked else np.ma.nomask
    image = ImageArray(data, mask=mask, metadata=rich_metadata())
    image.save(tmp_path / f"image{ext}")
    loaded = stonerimg.load(tmp_path / f"image{ext}")
    assert type(loaded) is ImageFile
    assert loaded.format == fmt
    assert_same_pixels(data, loaded.data)
    assert np.array_equal(np.ma.getmaskarray(loaded.image), np.ma.getmaskarray(image))
    if not masked:
        assert not np.ma.getmaskarray(loaded.image).any()
    assert_same_value(rich_metadata(), dict(loaded.metadata), "metadata")


def assert_save_leaves_image_unchanged(tmp_path: Path, data: np.ndarray, ext: str) -> ImageArray:
    """Save ``data`` (masked, with rich metadata) as ``ext`` three ways; the image stays exactly as it was.

    Saving the ImageArray, ``stonerimg.save`` of an ImageFile around it and ``ImageFile.save`` all
    write the same bytes, and none of them changes the image.  Returns the image.
    """
    image = ImageArray(data, mask=a_mask(data.shape), metadata=rich_metadata())
    before = snapshot(image)
    image.save(tmp_path / f"a{ext}")
    stonerimg.save(ImageFile(image), tmp_path / f"b{ext}")
    document = ImageFile(image)
    assert document.save(tmp_path / f"c{ext}") is document
    assert_unchanged(image, before)
    for other in (f"b{ext}", f"c{ext}"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / other).read_bytes()
    return image
