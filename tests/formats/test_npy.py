"""NPY: lossless round trips with the JSON sidecar, independent reads with NumPy, and no unpickling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, ImageArray

from .helpers import (
    DTYPES,
    a_mask,
    assert_round_trip,
    assert_same_pixels,
    assert_same_value,
    assert_save_leaves_image_unchanged,
    sample_pixels,
)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, masked):
    assert_round_trip(tmp_path, sample_pixels(dtype), ".npy", "npy", masked)


@pytest.mark.parametrize("dtype", ["bool", "uint16", "float64", "complex128"])
def test_stack_round_trip(tmp_path, dtype):
    data = sample_pixels(dtype, shape=(3, 7, 13))
    mask = a_mask(data.shape)
    image = ImageArray(data, mask=mask, metadata={"frames": 3})
    image.save(tmp_path / "stack.npy")
    loaded = stonerimg.load(tmp_path / "stack.npy")
    assert loaded.shape == (3, 7, 13)
    assert_same_pixels(data, loaded.data)
    assert np.array_equal(np.ma.getmaskarray(loaded.image), mask)
    assert_same_value({"frames": 3}, dict(loaded.metadata))


def test_non_square_orientation(tmp_path):
    data = np.arange(7 * 13, dtype=np.int32).reshape(7, 13)
    ImageArray(data).save(tmp_path / "wide.npy")
    ImageArray(data.T).save(tmp_path / "tall.npy")  # Fortran-order view
    wide, tall = stonerimg.load(tmp_path / "wide.npy"), stonerimg.load(tmp_path / "tall.npy")
    assert wide.shape == (7, 13) and wide.data[0, 12] == 12 and wide.data[6, 0] == 78
    assert_same_pixels(data, wide.data)
    assert_same_pixels(data.T.copy(), tall.data)
    assert np.array_equal(np.load(tmp_path / "tall.npy"), data.T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_independently_with_numpy(tmp_path, dtype):
    data = sample_pixels(dtype)
    ImageArray(data, mask=a_mask(data.shape), metadata={"gain": 1.5, "units": "µm"}).save(tmp_path / "x.npy")
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "x.npy.json"]
    pixels = np.load(tmp_path / "x.npy", allow_pickle=False)
    assert_same_pixels(data, pixels)
    document = json.loads((tmp_path / "x.npy.json").read_text(encoding="utf-8"))
    assert document["stonerimg"] == 1
    assert np.dtype(document["dtype"]) == data.dtype
    assert document["shape"] == [7, 13]
    assert document["metadata"] == {"gain": 1.5, "units": "µm"}
    assert "mask" in document


def test_sidecar_path():
    from stonerimg.formats.npy import sidecar

    assert sidecar("/data/scan.npy") == Path("/data/scan.npy.json")
    assert sidecar(Path("scan.v2.npy")) == Path("scan.v2.npy.json")


def test_plain_npy_without_sidecar(tmp_path):
    data = sample_pixels("float32")
    np.save(tmp_path / "plain.npy", data)
    loaded = stonerimg.load(tmp_path / "plain.npy")
    assert_same_pixels(data, loaded.data)
    assert dict(loaded.metadata) == {}
    assert not np.ma.getmaskarray(loaded.image).any()
    assert os.listdir(tmp_path) == ["plain.npy"]


@pytest.mark.parametrize("dtype", ["bool", "uint16", "complex64"])
def test_save_does_not_change_the_image(tmp_path, dtype):
    assert_save_leaves_image_unchanged(tmp_path, sample_pixels(dtype), ".npy")
    assert (tmp_path / "a.npy.json").read_bytes() == (tmp_path / "b.npy.json").read_bytes()


def test_overwrite_replaces_both_files(tmp_path):
    ImageArray(np.zeros((2, 2)), metadata={"old": 1}, mask=[[True, False], [False, False]]).save(tmp_path / "a.npy")
    new = np.arange(6, dtype=np.int8).reshape(2, 3)
    ImageArray(new, metadata={"new": 2}).save(tmp_path / "a.npy")
    loaded = stonerimg.load(tmp_path / "a.npy")
    assert_same_pixels(new, loaded.data)
    assert dict(loaded.metadata) == {"new": 2}
    assert not np.ma.getmaskarray(loaded.image).any()
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "a.npy.json"]


# --------------------------------------------------------------------------- nothing is unpickled


class _Trap:
    """Unpickling this object leaves a marker file behind."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_spring, (self.marker,))


def _spring(marker):
    Path(marker).write_text("unpickled", encoding="utf-8")
    return marker


def test_object_npy_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "UNPICKLED"
    data = np.empty((2, 2), dtype=object)
    data[...] = [[_Trap(marker), 1], [2, 3]]
    np.save(tmp_path / "objects.npy", data, allow_pickle=True)
    assert not marker.exists()
    with pytest.raises(FormatError) as info:
        stonerimg.load(tmp_path / "objects.npy")
    assert "objects.npy" in str(info.value)
    assert [name for name, _ in info.value.attempts] == ["npy"]
    assert not marker.exists()
    with pytest.raises(FormatError):
        stonerimg.load(tmp_path / "objects.npy", fmt="npy")
    assert not marker.exists()
    # the trap is real: NumPy itself, allowed to unpickle, springs it
    np.load(tmp_path / "objects.npy", allow_pickle=True)
    assert marker.read_text(encoding="utf-8") == "unpickled"


def test_object_dtype_in_sidecar_is_refused(tmp_path):
    data = np.arange(6, dtype=np.uint8).reshape(2, 3)
    ImageArray(data).save(tmp_path / "a.npy")
    document = json.loads((tmp_path / "a.npy.json").read_text(encoding="utf-8"))
    document["dtype"] = "|O"
    (tmp_path / "a.npy.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(FormatError):
        stonerimg.load(tmp_path / "a.npy")


def test_npz_named_npy_is_refused(tmp_path):
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, a=np.zeros(3), b=np.ones(3))
    with pytest.raises(FormatError) as info:
        stonerimg.load(tmp_path / "archive.npy")
    assert "archive.npy" in str(info.value)
