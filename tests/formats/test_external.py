"""HDF5 data stored outside the file: external raw storage, external links, virtual datasets.

A file may make the library read another file only as the ``external`` policy allows:
``"below"`` (default) regular files in the file's folder or below it, ``"none"``
nothing, ``"any"`` everything.  Every HDF5 path (NeXus, STXM, lazy open, RosettaSciIO's
.emd reader, the command line) goes through the same check; the refusal is a
``FormatError`` that names the target.  The files are made here, in a temporary folder:
``data/`` holds the file under test, ``secret.bin`` and ``other.h5`` sit outside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError
from stonerimg.cli import main

h5py = pytest.importorskip("h5py")

SECRET = np.arange(1, 17, dtype="<f8")  # what a file outside the folder holds


@pytest.fixture
def tree(tmp_path):
    """``tmp/secret.bin``, ``tmp/other.h5`` outside; ``tmp/data/sub/inner.h5``, ``tmp/data/sub/raw.bin`` inside."""
    (tmp_path / "data" / "sub").mkdir(parents=True)
    SECRET.tofile(tmp_path / "secret.bin")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["img"] = SECRET.reshape(4, 4)
    with h5py.File(tmp_path / "data" / "sub" / "inner.h5", "w") as f:
        f["img"] = (SECRET * 10).reshape(4, 4)
    (SECRET * 100).tofile(tmp_path / "data" / "sub" / "raw.bin")
    return tmp_path


def raw_file(path: Path, target: str) -> Path:
    """A file whose only image is external raw storage in ``target``."""
    with h5py.File(path, "w") as f:
        f.create_dataset("img", (4, 4), "<f8", external=[(target, 0, 128)])
    return path


def link_file(path: Path, target: str) -> Path:
    """A NeXus file whose NXdata signal is an external link to ``target:/img``."""
    with h5py.File(path, "w") as f:
        data = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "img"
        data["img"] = h5py.ExternalLink(target, "/img")
    return path


def virtual_file(path: Path, target: str) -> Path:
    """A file whose only image is a virtual dataset mapping ``target:/img``."""
    layout = h5py.VirtualLayout((4, 4), "<f8")
    layout[:] = h5py.VirtualSource(target, "img", (4, 4))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("img", layout)
    return path


def refused(call, *names):
    """Assert ``call()`` raises FormatError naming every one of ``names``; return the message."""
    with pytest.raises(FormatError) as info:
        call()
    message = str(info.value)
    for name in names:
        assert name in message
    return message


# ---------------------------------------------------------------- outside the folder: refused


@pytest.mark.parametrize("loader", ["load", "open"])
def test_raw_storage_outside_is_refused_and_names_the_target(tree, loader):
    path = raw_file(tree / "data" / "x.h5", str(tree / "secret.bin"))
    call = getattr(stonerimg, loader)
    refused(lambda: call(path), str(tree / "secret.bin"), "outside")
    refused(lambda: call(path, external="none"), "secret.bin", "external='none'")
    with h5py.File(path) as f:  # the attack works without the check: h5py reads the other file
        np.testing.assert_array_equal(f["img"][()].reshape(-1), SECRET)


def test_raw_storage_any_reads_the_named_file(tree):
    path = raw_file(tree / "data" / "x.h5", str(tree / "secret.bin"))
    np.testing.assert_array_equal(stonerimg.load(path, external="any").image.reshape(-1), SECRET)


@pytest.mark.parametrize("loader", ["load", "open"])
def test_external_link_outside_is_refused(tree, loader):
    call = getattr(stonerimg, loader)
    absolute = link_file(tree / "data" / "abs.nxs", str(tree / "other.h5"))
    refused(lambda: call(absolute), str(tree / "other.h5"))
    dotdot = link_file(tree / "data" / "up.nxs", "../other.h5")
    refused(lambda: call(dotdot), "'../other.h5'", "'..'")


def test_virtual_dataset_outside_is_refused(tree):
    path = virtual_file(tree / "data" / "v.h5", str(tree / "other.h5"))
    refused(lambda: stonerimg.load(path), str(tree / "other.h5"))
    np.testing.assert_array_equal(stonerimg.load(path, external="any").image, SECRET.reshape(4, 4))


def test_symlink_out_of_the_folder_is_refused(tree):
    os.symlink(tree / "secret.bin", tree / "data" / "sub" / "innocent.bin")
    path = raw_file(tree / "data" / "x.h5", str(tree / "data" / "sub" / "innocent.bin"))
    refused(lambda: stonerimg.load(path), str(tree / "secret.bin"))


def test_a_fifo_is_never_opened(tree):
    os.mkfifo(tree / "data" / "sub" / "pipe.h5")
    path = link_file(tree / "data" / "l.nxs", "sub/pipe.h5")
    refused(lambda: stonerimg.load(path), "not a regular file")


def test_files_named_by_files_below_are_checked_too(tree):
    # inside the folder, but the file it links to keeps its data outside
    raw_file(tree / "data" / "sub" / "relay.h5", str(tree / "secret.bin"))
    path = virtual_file(tree / "data" / "v.h5", "sub/relay.h5")
    refused(lambda: stonerimg.load(path), str(tree / "secret.bin"))


def test_emd_through_rosettasciio_is_checked(tree):
    pytest.importorskip("rsciio")
    path = raw_file(tree / "data" / "x.emd", str(tree / "secret.bin"))
    refused(lambda: stonerimg.load(path), str(tree / "secret.bin"))
    refused(lambda: stonerimg.load(path, fmt="emd"), str(tree / "secret.bin"))


# ---------------------------------------------------------------- below the folder: read


def test_virtual_dataset_below_loads_its_source(tree):
    path = virtual_file(tree / "data" / "v.h5", "sub/inner.h5")
    with h5py.File(tree / "data" / "sub" / "inner.h5") as f:
        expected = f["img"][()]
    np.testing.assert_array_equal(stonerimg.load(path).image, expected)
    refused(lambda: stonerimg.load(path, external="none"), "sub/inner.h5", "external='none'")


def test_external_link_below_loads_its_target(tree):
    path = link_file(tree / "data" / "l.nxs", "sub/inner.h5")
    np.testing.assert_array_equal(stonerimg.load(path).image, (SECRET * 10).reshape(4, 4))
    with stonerimg.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image.image), (SECRET * 10).reshape(4, 4))


def test_raw_storage_below_is_read_relative_to_the_current_folder_as_libhdf5_does(tree, monkeypatch):
    path = raw_file(tree / "data" / "x.h5", "sub/raw.bin")
    monkeypatch.chdir(tree / "data")
    np.testing.assert_array_equal(stonerimg.load(path).image.reshape(-1), SECRET * 100)
    monkeypatch.chdir(tree / "data" / "sub")  # now the name would mean data/sub/sub/raw.bin: not there
    with pytest.raises(FormatError):
        stonerimg.load(path)
    monkeypatch.chdir(tree)  # a same-named file outside the folder is never read
    (tree / "sub").mkdir()
    SECRET.tofile(tree / "sub" / "raw.bin")
    refused(lambda: stonerimg.load(path), str(tree / "sub" / "raw.bin"))


# ---------------------------------------------------------------- the option


def test_config_sets_the_default(tree, monkeypatch):
    path = virtual_file(tree / "data" / "v.h5", "sub/inner.h5")
    monkeypatch.setattr(stonerimg.config, "external", "none")
    refused(lambda: stonerimg.load(path), "external='none'")
    assert stonerimg.load(path, external="below").shape == (4, 4)
    monkeypatch.setattr(stonerimg.config, "external", "everything")
    with pytest.raises(ValueError, match="stonerimg.config.external"):
        stonerimg.load(path)


def test_a_bad_value_is_a_value_error(tree):
    path = virtual_file(tree / "data" / "v.h5", "sub/inner.h5")
    with pytest.raises(ValueError, match="external: must be one of"):
        stonerimg.load(path, external="yes")


def test_command_line(tree, capsys):
    path = raw_file(tree / "data" / "x.h5", str(tree / "secret.bin"))
    out = tree / "out"
    assert main(["convert", str(path), "-o", str(out), "--quiet"]) == 1
    assert "secret.bin" in capsys.readouterr().err
    assert not list(out.glob("*"))
    assert main(["info", str(path)]) == 1
    assert "secret.bin" in capsys.readouterr().err
    assert main(["info", "--external", "any", str(path)]) == 0
    assert main(["convert", str(path), "-o", str(out), "--quiet", "--external", "any"]) == 0
    assert [p.name for p in out.glob("*")] == ["x.tif"]


def test_the_check_opens_only_datasets_that_can_keep_data_outside(tree):
    """Without a global heap no dataset can be virtual: only a header listing external files gets a dataset opened.

    The raw-storage file has no global heap, and its dataset is still found (from its
    header's external files message); a virtual dataset's mapping lives in a global heap,
    so a virtual file always has one.
    """
    from stonerimg.formats._hdf5 import _items_outside, check_global_heaps

    raw = raw_file(tree / "data" / "raw.h5", "../secret.bin")
    with h5py.File(raw, "a") as f:
        f["plain"] = np.zeros((3, 3))  # an ordinary dataset beside it: not reported
    virtual = virtual_file(tree / "data" / "virtual.h5", "../other.h5")
    assert check_global_heaps(raw) == 0
    assert check_global_heaps(virtual) > 0
    with h5py.File(raw, "r") as f:
        assert _items_outside(f, virtual=False) == [("external raw storage", "of dataset /img", "../secret.bin")]
        assert _items_outside(f, virtual=True) == _items_outside(f, virtual=False)
    with h5py.File(virtual, "r") as f:
        assert [item[0] for item in _items_outside(f, virtual=True)] == ["virtual dataset"]
