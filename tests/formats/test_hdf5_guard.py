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


def damaged_heap_file(path):
    raw, heap = heap_file(path)
    damaged = bytearray(raw)
    damaged[heap + 16 : heap + 32] = bytes(16)
    path.write_bytes(bytes(damaged))
    return path


def run_guarded(code: str, timeout: float = 60.0):
    """Run ``code`` in a child Python under a 2 GiB address-space cap; a hang fails only this test."""
    import subprocess
    import sys

    prelude = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_a_sparse_file_of_any_size_is_scanned(tmp_path):
    # 8 GiB apparent size, a few KB on disk: the guard must not skip it (it used to stop at 1 GiB)
    path = damaged_heap_file(tmp_path / "sparse.h5")
    with open(path, "r+b") as handle:
        handle.truncate(8 << 30)
    with pytest.raises(FormatMismatch, match="global heap"):
        check_global_heaps(path)


def test_the_scan_never_maps_the_file(tmp_path, monkeypatch):
    # a map of a file truncated while it is scanned kills the process with SIGBUS
    import mmap

    def refuse(*args, **kwargs):
        raise AssertionError("the heap scan mapped the file")

    monkeypatch.setattr(mmap, "mmap", refuse)
    with pytest.raises(FormatMismatch, match="global heap"):
        check_global_heaps(damaged_heap_file(tmp_path / "bad.h5"))


def test_a_heap_across_scan_blocks_is_found(tmp_path, monkeypatch):
    from stonerimg.formats import _hdf5

    path = damaged_heap_file(tmp_path / "bad.h5")
    heap = path.read_bytes().find(b"GCOL")
    for block in (heap + 1, heap + 2, heap + 3, heap + 4, 64):
        monkeypatch.setattr(_hdf5, "BLOCK_BYTES", block)
        with pytest.raises(FormatMismatch, match="global heap"):
            check_global_heaps(path)


@pytest.mark.parametrize("name", ["bad.h5", "bad.nxs", "bad.emd"])
def test_every_reader_is_guarded(tmp_path, name):
    """load and open of a hang file end with FormatError in seconds, whichever library would read it."""
    if name.endswith(".emd"):
        pytest.importorskip("rsciio")
    path = damaged_heap_file(tmp_path / name)
    code = (
        "import sys, stonerimg\n"
        "for call in (stonerimg.load, stonerimg.open):\n"
        "    try:\n"
        f"        call({str(path)!r})\n"
        "    except stonerimg.FormatError as err:\n"
        "        assert 'global heap' in str(err) or 'cannot open lazily' in str(err), err\n"
        "    else:\n"
        "        sys.exit('no error')\n"
    )
    result = run_guarded(code)
    assert result.returncode == 0, result.stderr
