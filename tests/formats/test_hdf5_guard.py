"""The global-heap check that keeps libhdf5 from looping forever on damaged files."""

import h5py
import numpy as np
import pytest

from stonerimg.errors import FormatMismatch
from stonerimg.formats._hdf5 import check_global_heaps, open_hdf5


def heap_file(path):
    """An HDF5 file whose variable-length string attributes live in a global heap."""
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        f["data"] = np.arange(12.0).reshape(3, 4)
        f["data"].attrs["units"] = "µm"
    raw = path.read_bytes()
    return raw, raw.find(b"GCOL")


def test_intact_file_passes_and_opens(tmp_path):
    raw, heap = heap_file(tmp_path / "ok.h5")
    assert heap > 0
    check_global_heaps(tmp_path / "ok.h5")
    with open_hdf5(tmp_path / "ok.h5") as f:
        assert f.attrs["NX_class"] == "NXroot"


def test_empty_free_space_object_is_declined(tmp_path):
    raw, heap = heap_file(tmp_path / "ok.h5")
    # the first object starts 16 bytes into the collection; zeroing its header makes an object
    # of index 0 and size 0, on which libhdf5 would loop forever
    damaged = bytearray(raw)
    damaged[heap + 16 : heap + 32] = bytes(16)
    (tmp_path / "bad.h5").write_bytes(bytes(damaged))
    with pytest.raises(FormatMismatch, match="global heap"):
        check_global_heaps(tmp_path / "bad.h5")
    with pytest.raises(FormatMismatch, match="global heap"):
        open_hdf5(tmp_path / "bad.h5")


def test_heap_signature_inside_data_is_ignored(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["bytes"] = np.frombuffer(b"GCOL" + bytes(60), dtype=np.uint8)
    check_global_heaps(tmp_path / "data.h5")


def test_not_hdf5_is_left_to_h5py(tmp_path):
    (tmp_path / "text.h5").write_text("GCOL is not a heap here")
    check_global_heaps(tmp_path / "text.h5")
    with pytest.raises(FormatMismatch, match="not a readable HDF5 file"):
        open_hdf5(tmp_path / "text.h5")
