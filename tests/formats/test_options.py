"""Every loader, ImageFile(path), ImageFolder and stonerimg.open refuse options their format does not take.

One mechanism (``stonerimg.formats.accepted_options`` from the loader's signature)
serves all of them: a TypeError names the option, the format chosen and the options
it accepts, with a difflib suggestion.
"""

from __future__ import annotations

import inspect

import h5py
import numpy as np
import pytest

import stonerimg
from stonerimg import ImageArray, ImageFile, ImageFolder, formats

STXM = "stxm/Sample_Image_2017-10-15_100.hdf5"


def _plain_hdf5(path):
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(12.0).reshape(3, 4)
    return path


@pytest.fixture
def files(tmp_path, sample_data):
    """One file of each built-in format that reads files, and the format that reads it."""
    image = ImageArray(np.arange(12, dtype=np.uint16).reshape(3, 4))
    for name in ("a.tif", "a.png", "a.npy"):
        image.save(tmp_path / name)
    return {
        "tiff": tmp_path / "a.tif",
        "png": tmp_path / "a.png",
        "npy": tmp_path / "a.npy",
        "nexus": _plain_hdf5(tmp_path / "plain.h5"),
        "stxm": sample_data / STXM,
        "kerr": sample_data / "kerr/kermit.png",
        "maximus": sample_data / "maximus/MPI_210127021/MPI_210127021.hdr",
        "dm": sample_data / "dm/test_STEM_image.dm3",
    }


@pytest.mark.parametrize("name", ["tiff", "png", "npy", "nexus", "stxm", "kerr", "maximus", "dm"])
def test_every_loader_refuses_an_unknown_option_naming_format_and_options(files, name):
    path = files[name]
    assert stonerimg.load(path).format == name  # sniffed without options: this format reads it
    accepted = formats.accepted_options(formats.get(name))
    for call in (
        lambda: stonerimg.load(path, colour="red"),  # the format is sniffed
        lambda: stonerimg.load(path, fmt=name, colour="red"),  # the format is named
        lambda: ImageFile(path, colour="red"),
        lambda: ImageFile.load(path, colour="red"),
    ):
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert "'colour'" in message and f"format {name!r}" in message, message
        assert (f"it accepts {', '.join(accepted)}" if accepted else "it takes no options") in message


def test_the_issue_example_stxm_regird(sample_data):
    with pytest.raises(TypeError) as info:
        stonerimg.load(sample_data / STXM, regird=True)
    message = str(info.value)
    assert "'regird'" in message and "'stxm'" in message and "Sample_Image_2017-10-15_100.hdf5" in message
    assert "it accepts regrid, bcn" in message and "did you mean 'regird' -> 'regrid'" in message


def test_an_option_of_a_later_candidate_is_not_an_error(tmp_path):
    # .h5: stxm is tried first and declines; nexus takes signal= and reads the file
    path = _plain_hdf5(tmp_path / "plain.h5")
    document = stonerimg.load(path, signal="/data")
    assert document.format == "nexus"
    np.testing.assert_array_equal(document.data, np.arange(12.0).reshape(3, 4))


def test_an_option_of_a_declining_format_says_which_format_was_chosen(tmp_path):
    # regrid is stxm's; stxm declines a plain HDF5 file, nexus reads it: the error names nexus
    path = _plain_hdf5(tmp_path / "plain.h5")
    with pytest.raises(TypeError) as info:
        stonerimg.load(path, regrid=True)
    message = str(info.value)
    assert "'regrid'" in message and "format 'nexus' (the format chosen for plain.h5)" in message
    assert "it accepts signal" in message


def test_no_format_reads_it_stays_a_format_error(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(stonerimg.FormatError):
        stonerimg.load(path, colour="red")


def test_stonerimg_open_refuses_unknown_options(files, sample_data):
    with pytest.raises(TypeError, match=r"open: unknown option 'signal' for format 'npy'.*takes no options"):
        stonerimg.open(files["npy"], signal="/x")
    with pytest.raises(TypeError, match=r"'regird'.*'stxm'.*did you mean 'regird' -> 'regrid'"):
        stonerimg.open(sample_data / STXM, regird=True)
    with stonerimg.open(files["nexus"], signal="/data") as disk:  # an option the format takes still works
        np.testing.assert_array_equal(np.asarray(disk.data), np.arange(12.0).reshape(3, 4))


def test_image_folder_refuses_an_option_when_it_is_made(sample_data, tmp_path):
    with pytest.raises(TypeError, match=r"'regird'.*did you mean 'regird' -> 'regrid'"):
        ImageFolder(sample_data / "stxm", regird=True)
    with pytest.raises(TypeError, match=r"unknown option 'regird' for format 'stxm'"):
        ImageFolder(sample_data / "stxm", fmt="stxm", regird=True)
    folder = ImageFolder(sample_data / "stxm", regrid=False)  # stxm's own option is fine
    assert len(folder) == 2


def test_no_builtin_loader_drops_keyword_arguments_unread():
    # the grep of the issue, as a test: every built-in load/open either names its options or lists them
    for fmt in formats._all_formats().values():
        for role in ("load", "open"):
            target = getattr(fmt, role)
            if target is None or not isinstance(target, str) or not target.startswith("stonerimg."):
                continue
            func = formats._resolve(target)
            varkw = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values())
            assert not varkw or hasattr(func, "accepted_options"), f"{fmt.name}.{role} takes **kwargs it may drop"
