"""Bad input for every loader and for ``stonerimg.load()``: clear errors, no hangs, inputs left alone.

For each format there is a real sample file (copied into a temporary folder before it is
damaged; the shared data folder is never written to):

- a matrix of bad files (empty, truncated at several points, random bytes, another format's
  file under this format's extension, a directory, a missing file, an unreadable file), each
  of which must give ``stonerimg.FormatError`` / ``FileNotFoundError`` / ``PermissionError``
  naming the file and the reason, through ``stonerimg.load(path)``, ``load(path, fmt=...)``
  and the ``ImageFile`` subclasses' ``load``;
- a hypothesis fuzzer that damages the real file (truncates it, flips bytes, overwrites,
  inserts or duplicates slices) and accepts only a loaded ``ImageFile`` or a ``FormatError``
  (every format, RosettaSciIO's .emd among them; and, for the formats that open lazily,
  ``stonerimg.open`` followed by a read of every pixel)
  (and, for a MAXYMUS header that now names images that are not there, the documented
  ``FileNotFoundError`` naming the missing image);
- targeted files for the bugs the fuzzer found (enormous sizes declared by a damaged header,
  an HDF5 file whose damaged global heap sent the HDF5 library into an endless loop; that one
  is loaded in a child process so that a hang fails only its own test).

After every load the input files must have the same SHA-256 and modification time, no file
descriptor or memory map may still point at them, and they must be renamable and writable.
Each load runs under a ``SIGALRM`` time limit (and a ``faulthandler`` backstop that ends the
process for a hang inside C code), so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import faulthandler
import hashlib
import io
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import stonerimg
from stonerimg import FormatError, ImageArray, ImageFile
from stonerimg import formats as registry
from stonerimg.formats.kerr import KerrImage
from stonerimg.formats.stxm import STXMImage

#: Seconds one load may take before the test fails (real samples load in well under a second).
LOAD_TIMEOUT = 20.0
#: After this many seconds a load stuck inside C code (where SIGALRM cannot interrupt it) ends the run.
HARD_TIMEOUT = 90.0

# --------------------------------------------------------------------------- the samples

#: The formats under test: name -> (extension of the sample, the format its sample loads as).
FORMATS = {
    "tiff": (".tif", "tiff"),
    "png": (".png", "kerr"),
    "npy": (".npy", "npy"),
    "stxm": (".hdf5", "stxm"),
    "nexus": (".nxs", "nexus"),
    "maximus": (".hdr", "maximus"),
    "dm": (".dm3", "dm"),
    "emd": (".emd", "emd"),
}

#: Real samples: format -> (folder in the sample data, file name).  The whole folder of a MAXYMUS
#: scan is copied (the header and its .xim images); for the others, only the file.
REAL_SAMPLES = {
    "tiff": ("tiff", "test_loading_image_saved_with_imageJ.tif"),
    "png": ("kerr", "im2_noannotations.png"),
    "stxm": ("stxm", "Sample_Image_2017-10-15_100.hdf5"),
    "maximus": ("maximus/MPI_210127021", "MPI_210127021.hdr"),
    "dm": ("dm", "test_STEM_image.dm3"),
}


def _write_nexus(path: Path) -> None:
    """A small NeXus file: NXentry/NXdata with a 2-D signal and calibrated axes."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as handle:
        handle.attrs["NX_class"] = "NXroot"
        handle.attrs["default"] = "entry"
        entry = handle.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        entry["title"] = "bad-input sample"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "counts"
        data.attrs["axes"] = ["y", "x"]
        data["counts"] = np.arange(24 * 32, dtype=np.float64).reshape(24, 32)
        data["x"] = np.linspace(0.0, 3.1, 32)
        data["x"].attrs["units"] = "um"
        data["y"] = np.linspace(-1.0, 1.3, 24)
        data["y"].attrs["units"] = "um"


def _write_emd(path: Path) -> None:
    """A small Berkeley EMD file written by RosettaSciIO (an HDF5 file RosettaSciIO's reader reads)."""
    emd = pytest.importorskip("rsciio.emd")
    axes = [
        {"name": name, "size": size, "scale": 0.5, "offset": 0.0, "units": "nm", "navigate": False, "index_in_array": i}
        for i, (name, size) in enumerate((("y", 24), ("x", 32)))
    ]
    signal = {
        "data": np.arange(24 * 32, dtype=np.float32).reshape(24, 32),
        "axes": axes,
        "metadata": {"General": {"title": "bad-input sample"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "attributes": {"_lazy": False},
    }
    emd.file_writer(str(path), signal)


def make_sample(name: str, folder: Path, request) -> Path:
    """Put a good sample of format ``name`` into ``folder`` and return the path to load.

    Real files are reached only through the ``sample_data`` fixture (which skips the test when
    the data are absent) and are copied; ``npy`` and ``nexus`` samples are made here.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if name in ("stxm", "nexus", "emd"):
        pytest.importorskip("h5py")
    if name == "emd":
        path = folder / "sample.emd"
        _write_emd(path)
        return path
    if name in REAL_SAMPLES:
        sub, filename = REAL_SAMPLES[name]
        source = request.getfixturevalue("sample_data") / sub / filename
        if not source.is_file():
            pytest.skip(f"{sub}/{filename} is not in the sample data")
        sources = sorted(p for p in source.parent.iterdir() if p.is_file()) if name == "maximus" else [source]
        for item in sources:
            shutil.copyfile(item, folder / item.name)
        return folder / filename
    if name == "npy":
        image = ImageArray(np.arange(40 * 50, dtype=np.float32).reshape(40, 50), metadata={"sample": "bad input"})
        image[3, 4] = np.ma.masked
        return stonerimg.save(image, folder / "sample.npy")
    if name == "nexus":
        path = folder / "sample.nxs"
        _write_nexus(path)
        return path
    raise AssertionError(f"no sample for {name}")


# --------------------------------------------------------------------------- foreign files


def _small_png(folder: Path) -> bytes:
    return stonerimg.save(np.arange(12 * 9, dtype=np.uint8).reshape(12, 9), folder / "made.png").read_bytes()


def _small_tiff(folder: Path) -> bytes:
    return stonerimg.save(np.arange(12 * 9, dtype=np.uint16).reshape(12, 9), folder / "made.tif").read_bytes()


def _hdf5_without_image(folder: Path) -> bytes:
    h5py = pytest.importorskip("h5py")
    path = folder / "made.h5"
    with h5py.File(path, "w") as handle:
        entry = handle.create_group("entry1")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = np.array([b"NXarpes"])
        entry["spectrum"] = np.linspace(0.0, 1.0, 50)
        entry["spectrum"].attrs["units"] = "eV"
    return path.read_bytes()


def _hdf5_two_images(folder: Path) -> bytes:
    h5py = pytest.importorskip("h5py")
    path = folder / "made.h5"
    with h5py.File(path, "w") as handle:
        handle["first"] = np.zeros((5, 6))
        handle["group/second"] = np.ones((7, 8))
    return path.read_bytes()


def _hdf5_nexus_image(folder: Path) -> bytes:
    _write_nexus(folder / "made.h5")
    return (folder / "made.h5").read_bytes()


def _text_table(folder: Path) -> bytes:
    return b"x,y,counts\n0,0,12\n0,1,15\n1,0,9\n1,1,11\n"


def _envi_header(folder: Path) -> bytes:
    return b"ENVI\ndescription = {not a MAXYMUS scan}\nsamples = 5\nlines = 4\nbands = 1\ndata type = 4\n"


def _npz_archive(folder: Path) -> bytes:
    np.savez(folder / "made.npz", a=np.zeros((3, 3)), b=np.ones((2, 2)))
    return (folder / "made.npz").read_bytes()


#: (format, what, maker of the bytes, what ``stonerimg.load`` makes of it without ``fmt``:
#: None for a FormatError, else the name of the format whose signature the bytes carry).
FOREIGN = [
    ("tiff", "a PNG file", _small_png, "png"),
    ("tiff", "a text data file", _text_table, None),
    ("png", "a text data file", _text_table, None),
    ("png", "a TIFF file", _small_tiff, "tiff"),
    ("npy", "a TIFF file", _small_tiff, "tiff"),
    ("npy", "an .npz archive", _npz_archive, None),
    ("stxm", "an HDF5 file that is not NXstxm and holds no image", _hdf5_without_image, None),
    ("stxm", "a NeXus file that is not NXstxm", _hdf5_nexus_image, "nexus"),
    ("nexus", "an HDF5 file with two images and no NeXus signal", _hdf5_two_images, None),
    ("nexus", "a PNG file", _small_png, "png"),
    ("maximus", "an ENVI header", _envi_header, None),
    ("maximus", "a PNG file", _small_png, "png"),
    ("dm", "a TIFF file", _small_tiff, "tiff"),
    ("dm", "a text data file", _text_table, None),
]


# --------------------------------------------------------------------------- checks


class LoadHung(BaseException):  # noqa: N818 - a BaseException, so no loader's ``except Exception`` swallows it
    """Raised by the SIGALRM handler when a load takes too long."""


@contextlib.contextmanager
def time_limit(seconds: float = LOAD_TIMEOUT):
    """Fail (AssertionError) when the block takes more than ``seconds``; end the run if C code hangs."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise LoadHung

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(HARD_TIMEOUT, exit=True)
    try:
        yield
    except LoadHung:
        raise AssertionError(f"the load hung: it did not finish within {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def guarded_load(path, loader: Callable = stonerimg.load, **kwargs):
    """``loader(path, **kwargs)`` under the time limit."""
    with time_limit():
        return loader(path, **kwargs)


def _fingerprint(path: Path):
    stat = path.stat()
    if path.is_dir():
        return ("dir", stat.st_mtime_ns)
    return (hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mtime_ns, stat.st_size)


def snapshot(folder: Path) -> dict:
    """SHA-256, modification time and size of everything under ``folder`` (which also catches new files)."""
    return {str(p.relative_to(folder)): _fingerprint(p) for p in sorted(Path(folder).rglob("*"))}


def _open_references(paths: set[str]) -> list[str]:
    """Descriptors and memory maps of this process that still point at one of ``paths``."""
    found = []
    if os.path.isdir("/proc/self/fd"):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target in paths:
                    found.append(f"file descriptor {fd} -> {target}")
    if os.path.isfile("/proc/self/maps"):
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].strip() in paths:
                    found.append(f"memory map {fields[0]} -> {fields[5].strip()}")
    return found


def assert_untouched(folder: Path, before: dict) -> None:
    """The files under ``folder`` are as they were, not held open, and can be renamed and written."""
    assert snapshot(folder) == before, "loading changed, added or removed a file"
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()]
    held = _open_references({os.path.realpath(p) for p in files})
    assert not held, f"loading left the input open: {held}"
    for path in files:
        moved = path.with_name(path.name + ".moved")
        os.rename(path, moved)
        os.rename(moved, path)
        with open(path, "r+b"):
            pass
    assert snapshot(folder) == before


def assert_names_file(err: BaseException, path: Path) -> None:
    """The exception names ``path`` (in its ``filename`` and its message)."""
    assert os.fspath(err.filename) == str(path), f"{type(err).__name__} names {err.filename!r}, not {str(path)!r}"
    assert str(path) in str(err)


def check_format_error(err: FormatError, path: Path, fmt: str | None = None) -> None:
    """A FormatError that names ``path`` and says why for every format it tried (``fmt`` among them)."""
    assert type(err) is FormatError
    assert_names_file(err, path)
    assert err.attempts or "cannot load" in str(err)
    for name, why in err.attempts:
        assert isinstance(name, str) and name
        assert isinstance(why, str) and why.strip(), f"format {name!r} gave no reason"
        assert f"- {name}: " in str(err)
    if fmt is not None and err.attempts:
        assert [name for name, _ in err.attempts] == [fmt], f"fmt={fmt!r} tried {err.attempts}"
    elif fmt is not None:  # refused before any format was tried
        assert "the file is empty" in str(err), str(err)


def claimants(path: Path) -> list[str]:
    """The registered formats that claim the extension of ``path``."""
    ext = path.suffix.lower()
    return sorted(f["name"] for f in registry.available() if ext in f["extensions"])


def expect_format_error(path: Path, folder: Path, loader: Callable = stonerimg.load, **kwargs) -> FormatError:
    """Load ``path``: it must give a FormatError naming it and leave ``folder`` untouched."""
    before = snapshot(folder)
    with pytest.raises(FormatError) as info:
        guarded_load(path, loader, **kwargs)
    check_format_error(info.value, path, kwargs.get("fmt"))
    assert_untouched(folder, before)  # while the error (and its traceback) is still alive
    return info.value


def check_forced_formats(path: Path, folder: Path, reader: str | None = None) -> None:
    """``load(path, fmt=name)`` for every format claiming the extension: a FormatError naming that format.

    ``reader`` is a format that can read the file (it is left out).
    """
    names = claimants(path)
    assert names, f"no format claims {path.suffix}"
    for name in names:
        if name == reader:
            continue
        err = expect_format_error(path, folder, fmt=name)
        assert name in str(err) or not path.stat().st_size


# --------------------------------------------------------------------------- the matrix

#: The damaged files of the matrix: name -> function (original bytes) -> damaged bytes.
DAMAGE = {
    "empty": lambda raw: b"",
    "cut at 1 byte": lambda raw: raw[:1],
    "cut at 8 bytes": lambda raw: raw[:8],
    "cut at 25%": lambda raw: raw[: len(raw) // 4],
    "cut at 50%": lambda raw: raw[: len(raw) // 2],
    "cut at 75%": lambda raw: raw[: 3 * len(raw) // 4],
    "random bytes": lambda raw: random.Random(20240617).randbytes(4096),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("name", list(FORMATS))
def test_damaged_file(name, damage, request, tmp_path):
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    err = expect_format_error(path, folder)
    if damage == "empty":
        assert "empty" in str(err)
    check_forced_formats(path, folder)


@pytest.mark.parametrize(
    ("name", "what", "maker", "loads_as"), FOREIGN, ids=[f"{name}-{what}" for name, what, _, _ in FOREIGN]
)
def test_foreign_file_with_this_extension(name, what, maker, loads_as, request, tmp_path):
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    made = tmp_path / "made"
    made.mkdir()
    path.write_bytes(maker(made))
    if loads_as is None:
        expect_format_error(path, folder)
    else:  # the bytes carry another format's signature: the registry reads them as that format
        before = snapshot(folder)
        document = guarded_load(path)
        assert document.format == loads_as
        assert isinstance(document.image.data, np.ndarray)
        del document
        assert_untouched(folder, before)
    check_forced_formats(path, folder, reader=loads_as)


@pytest.mark.parametrize("name", list(FORMATS))
def test_directory(name, request, tmp_path):
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    path.unlink()
    path.mkdir()
    for kwargs in [{}, *({"fmt": fmt} for fmt in claimants(path))]:
        before = snapshot(folder)
        with pytest.raises(FormatError, match="directory") as info:
            guarded_load(path, **kwargs)
        assert_names_file(info.value, path)
        assert_untouched(folder, before)


@pytest.mark.parametrize("name", list(FORMATS))
def test_missing_file(name, tmp_path):
    path = tmp_path / f"missing{FORMATS[name][0]}"
    for loader, kwargs in [
        (stonerimg.load, {}),
        *((stonerimg.load, {"fmt": fmt}) for fmt in claimants(path)),
        (ImageFile.load, {}),
        (STXMImage.load, {}),
        (KerrImage.load, {}),
    ]:
        with pytest.raises(FileNotFoundError) as info:
            guarded_load(path, loader, **kwargs)
        assert_names_file(info.value, path)
        assert not path.exists(), "loading a missing file created it"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- unreadable files


@contextlib.contextmanager
def unreadable(monkeypatch, path: Path, *, sniff_allowed: bool = False):
    """Make ``path`` unreadable (as ``chmod 000`` would for a user other than root).

    ``open``/``io.open``/``os.open`` and ``h5py.File`` raise ``PermissionError`` for it.  With
    ``sniff_allowed``, the registry may still read the first bytes, so the loaders themselves
    meet the error.
    """
    denied_path = os.path.realpath(path)
    real_open, real_os_open = builtins.open, os.open

    def denied(file) -> bool:
        if isinstance(file, int) or not isinstance(file, (str, bytes, os.PathLike)):
            return False
        return os.path.realpath(os.fsdecode(file)) == denied_path

    def refuse(file):
        raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(file))

    def fake_open(file, *args, **kwargs):
        if denied(file):
            refuse(file)
        return real_open(file, *args, **kwargs)

    def fake_os_open(file, *args, **kwargs):
        if denied(file):
            refuse(file)
        return real_os_open(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", fake_open)
        patch.setattr(io, "open", fake_open)
        patch.setattr(os, "open", fake_os_open)
        if "h5py" in sys.modules or path.suffix.lower() in (".hdf5", ".h5", ".hdf", ".nxs"):
            import h5py

            class DeniedFile(h5py.File):
                def __init__(self, name, *args, **kwargs):
                    if denied(name):
                        refuse(name)
                    super().__init__(name, *args, **kwargs)

            patch.setattr(h5py, "File", DeniedFile)
        if sniff_allowed:  # the registry's own ``open`` (a module global shadows the builtin)
            patch.setattr(registry, "open", real_open, raising=False)
        yield


@pytest.mark.parametrize("name", list(FORMATS))
def test_unreadable_file(name, request, tmp_path, monkeypatch):
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    stonerimg.load(path)  # warm up the imports outside the patch
    before = snapshot(folder)
    for kwargs in [{}, *({"fmt": fmt} for fmt in claimants(path))]:
        with unreadable(monkeypatch, path), pytest.raises(PermissionError) as info:
            guarded_load(path, **kwargs)
        assert_names_file(info.value, path)
        assert_untouched(folder, before)


@pytest.mark.parametrize("name", list(FORMATS))
def test_unreadable_file_reaches_the_loader(name, request, tmp_path, monkeypatch):
    """The registry read the first bytes, then the file became unreadable: the loader's error propagates."""
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    loads_as = FORMATS[name][1]
    stonerimg.load(path)
    before = snapshot(folder)
    for kwargs in [{}, {"fmt": loads_as}]:
        with unreadable(monkeypatch, path, sniff_allowed=True), pytest.raises(PermissionError) as info:
            guarded_load(path, **kwargs)
        assert_names_file(info.value, path)
        assert_untouched(folder, before)


def test_unreadable_maximus_image(request, tmp_path, monkeypatch):
    """An unreadable .xim beside a readable header: PermissionError naming the .xim."""
    folder = tmp_path / "sample"
    path = make_sample("maximus", folder, request)
    image = sorted(folder.glob("*.xim"))[0]
    before = snapshot(folder)
    with unreadable(monkeypatch, image), pytest.raises(PermissionError) as info:
        guarded_load(path)
    assert_names_file(info.value, image)
    assert_untouched(folder, before)


# --------------------------------------------------------------------------- fmt= and subclasses


def test_every_format_forced_on_a_wrong_file(tmp_path):
    """``load(path, fmt=name)`` of a file that is not ``name``: FormatError naming that format."""
    folder = tmp_path / "files"
    folder.mkdir()
    png = stonerimg.save(np.arange(12 * 9, dtype=np.uint8).reshape(12, 9), folder / "plain.png")
    tiff = stonerimg.save(np.arange(12 * 9, dtype=np.uint16).reshape(12, 9), folder / "plain.tif")
    text = folder / "table.txt"
    text.write_bytes(_text_table(folder))
    for info in registry.available():
        name = info["name"]
        wrong = tiff if name in ("png", "kerr") else png
        for path in (wrong, text):
            err = expect_format_error(path, folder, fmt=name)
            assert name in str(err)


def test_subclass_load_on_wrong_files(request, tmp_path):
    """STXMImage.load and KerrImage.load refuse files their formats do not read, even when others do."""
    folder = tmp_path / "files"
    folder.mkdir()
    plain_png = stonerimg.save(np.arange(12 * 9, dtype=np.uint8).reshape(12, 9), folder / "plain.png")
    tiff = stonerimg.save(np.arange(12 * 9, dtype=np.uint16).reshape(12, 9), folder / "plain.tif")
    cases = [(KerrImage, plain_png), (KerrImage, tiff), (STXMImage, tiff), (STXMImage, plain_png)]
    if "h5py" in sys.modules or _h5py_available():
        nexus = folder / "nexus.hdf5"
        _write_nexus(nexus)
        cases += [(STXMImage, nexus), (KerrImage, nexus)]
        assert stonerimg.load(nexus).format == "nexus"  # it is a good file, only not an STXM one
    assert stonerimg.load(plain_png).format == "png"
    for cls, path in cases:
        err = expect_format_error(path, folder, cls.load)
        assert cls.__name__ in str(err)
        with pytest.raises(FormatError):
            guarded_load(path, cls)  # the constructor with a path loads too
    for cls in (STXMImage, KerrImage):
        with pytest.raises(FormatError, match="directory"):
            guarded_load(folder, cls.load)


def _h5py_available() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", ["png", "stxm"])
def test_subclass_load_on_damaged_sample(name, request, tmp_path):
    """A damaged Kerr PNG / STXM file through KerrImage.load / STXMImage.load: FormatError."""
    cls = {"png": KerrImage, "stxm": STXMImage}[name]
    folder = tmp_path / "sample"
    path = make_sample(name, folder, request)
    raw = path.read_bytes()
    assert isinstance(guarded_load(path, cls.load), cls)
    for damage in ("empty", "cut at 8 bytes", "cut at 50%", "random bytes"):
        path.write_bytes(DAMAGE[damage](raw))
        expect_format_error(path, folder, cls.load)


# --------------------------------------------------------------------------- targeted corruptions


def test_npy_header_claiming_an_enormous_array(tmp_path):
    """A one-line change to an .npy header (its shape) must not become a MemoryError."""
    folder = tmp_path / "sample"
    folder.mkdir()
    path = stonerimg.save(np.zeros((100, 120), dtype=np.float32), folder / "huge.npy")
    raw = path.read_bytes()
    assert b"'shape': (100, 120), }" in raw
    path.write_bytes(raw.replace(b"'shape': (100, 120), }", b"'shape': (9999999999999,)}"))
    err = expect_format_error(path, folder)
    assert "npy" in str(err)


def test_tiff_header_claiming_an_enormous_image(request, tmp_path):
    """Two flipped bits in the ImageLength tag of a 56 kB TIFF must not become a MemoryError."""
    folder = tmp_path / "sample"
    path = make_sample("tiff", folder, request)
    raw = bytearray(path.read_bytes())
    assert raw[34:46] == bytes.fromhex("0101 0004 00000001 00000044")  # ImageLength (LONG) = 68, big-endian
    raw[42] ^= 0x06  # ImageLength = 0x06000044 = 100663364 rows
    path.write_bytes(bytes(raw))
    err = expect_format_error(path, folder)
    assert "tiff" in str(err)


def test_nexus_damaged_global_heap_does_not_hang(tmp_path):
    """Eight NUL bytes inserted into the global heap of a NeXus file: an error, not an endless loop.

    The file is loaded in a child process, so a hang inside the HDF5 library (which SIGALRM
    cannot interrupt) is killed after LOAD_TIMEOUT seconds and fails only this test.
    """
    pytest.importorskip("h5py")
    folder = tmp_path / "sample"
    folder.mkdir()
    path = folder / "sample.nxs"
    _write_nexus(path)
    raw = path.read_bytes()
    heap = raw.find(b"GCOL")  # the global heap collection holding the variable-length string attributes
    assert 0 < heap < 2216 < len(raw)
    path.write_bytes(raw[:2216] + b"\x00" * 8 + raw[2216:])
    before = snapshot(folder)
    script = (
        "import sys, stonerimg\n"
        "try:\n"
        "    stonerimg.load(sys.argv[1])\n"
        "except stonerimg.FormatError:\n"
        "    print('FormatError')\n"
        "else:\n"
        "    print('loaded')\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=LOAD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        done = None
    assert done is not None, f"stonerimg.load() of {path.name} hung: killed after {LOAD_TIMEOUT} s"
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() in ("FormatError", "loaded")
    assert snapshot(folder) == before


def is_missing_companion(err: FileNotFoundError, path: Path) -> bool:
    """Whether ``err`` names a file beside ``path`` that does not exist (an image a MAXYMUS header names)."""
    missing = Path(os.fspath(err.filename)) if err.filename else None
    return (
        missing is not None
        and missing != path
        and missing.parent == path.parent
        and not missing.exists()
        and str(missing) in str(err)
    )


def test_maximus_header_naming_missing_images(request, tmp_path):
    """A header whose stack axis no longer matches the images beside it: FileNotFoundError naming the image."""
    folder = tmp_path / "sample"
    path = make_sample("maximus", folder, request)
    text = path.read_bytes()
    assert text.count(b"Points = (2, -2.000, -1.000);") == 1
    path.write_bytes(text.replace(b"Points = (2, -2.000, -1.000);", b"Points = (1, -2.000);"))
    before = snapshot(folder)
    with pytest.raises(FileNotFoundError) as info:
        guarded_load(path)
    assert is_missing_companion(info.value, path)
    assert info.value.filename.endswith("_a.xim")
    assert path.name in str(info.value)
    assert_untouched(folder, before)


# --------------------------------------------------------------------------- fuzzing


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every whole chunk, so damage reaches the PNG parsers behind the CRC check."""
    out = bytearray(data)
    at = 8
    while at + 12 <= len(out):
        length = struct.unpack(">I", out[at : at + 4])[0]
        end = at + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(out[at + 4 : end]))
        at = end + 4
    return bytes(out)


#: Fuzz targets: name -> (format of the sample, the file of the sample to damage: None for the
#: file that is loaded, else a glob in the sample folder, examples, a repair applied after the damage).
FUZZ_TARGETS = {
    "tiff": ("tiff", None, 50, None),
    "png": ("png", None, 30, None),
    "png, CRCs repaired": ("png", None, 40, fix_png_crcs),
    "npy": ("npy", None, 50, None),
    "npy sidecar": ("npy", "*.json", 50, None),
    "stxm": ("stxm", None, 40, None),
    "nexus": ("nexus", None, 50, None),
    "maximus header": ("maximus", None, 60, None),
    "maximus image": ("maximus", "*_a000.xim", 30, None),
    "dm": ("dm", None, 50, None),
    "emd": ("emd", None, 50, None),
}

#: Byte strings worth writing into a file: extreme integers of every width and endianness, numbers,
#: separators and brackets of the text formats, signatures.
TOKENS = [
    b"\x00",
    b"\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x7f\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"\x80\x00\x00\x00",
    b"\xff" * 8,
    b"\x00" * 8,
    b"\x01\x00\x00\x00\x00\x00\x00\x00",
    b"9999999999",
    b"99999999999999999999",
    b"-1",
    b"0",
    b"1e308",
    b"-1.#IND00",
    b"nan",
    b"{",
    b"}",
    b"(",
    b")",
    b";",
    b",",
    b"=",
    b'"',
    b"\t",
    b"\r\n",
    b"'shape': (",
    b'"shape": [',
    b'"dtype": "<c16"',
    b'"__type__"',
    b"ScanDefinition = {",
    b"Points = (0);",
    b"\x89HDF\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n",
    b"II*\x00",
]


def _position(size: int):
    """Offsets in the file, half of them in its first kilobyte where the headers are."""
    last = max(size - 1, 0)
    return st.one_of(st.integers(0, min(last, 1023)), st.integers(0, last))


def corruptions(size: int):
    """A list of 1 to 4 damages to a file of ``size`` bytes."""
    where = _position(size)
    payload = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=24))
    damage = st.one_of(
        st.tuples(st.just("truncate"), where),
        st.tuples(st.just("flip"), where, st.integers(1, 255)),
        st.tuples(st.just("overwrite"), where, payload),
        st.tuples(st.just("insert"), where, payload),
        st.tuples(st.just("duplicate"), where, st.integers(1, 4096), where),
    )
    return st.lists(damage, min_size=1, max_size=4)


def corrupt(raw: bytes, damages) -> bytes:
    """Apply ``damages`` (from :func:`corruptions`) to ``raw`` in turn; offsets wrap at the current length."""
    data = bytearray(raw)
    for kind, at, *args in damages:
        at = at % (len(data) + 1)
        if kind == "truncate":
            del data[at:]
        elif kind == "flip":
            if at < len(data):
                data[at] ^= args[0]
        elif kind == "overwrite":
            data[at : at + len(args[0])] = args[0]
        elif kind == "insert":
            data[at:at] = args[0]
        elif kind == "duplicate":
            length, to = args
            data[to % (len(data) + 1) : to % (len(data) + 1)] = data[at : at + length]
    return bytes(data)


_ORIGINALS: dict[str, tuple[dict[str, bytes], str, str]] = {}


@pytest.fixture(scope="module")
def originals(request, tmp_path_factory):
    """``get(target) -> (bytes of every file of the sample, the name to load, the name to damage)``, read once."""

    def get(target: str):
        if target not in _ORIGINALS:
            name, victim, _, _ = FUZZ_TARGETS[target]
            folder = tmp_path_factory.mktemp("fuzz-original")
            path = make_sample(name, folder, request)
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
            damaged = path.name if victim is None else sorted(folder.glob(victim))[0].name
            stonerimg.load(path)  # the good sample loads (and the loader's imports are done)
            _ORIGINALS[target] = (files, path.name, damaged)
        return _ORIGINALS[target]

    return get


@pytest.mark.parametrize("target", list(FUZZ_TARGETS))
def test_fuzz_loader(target, originals):
    files, main, victim = originals(target)
    raw = files[victim]
    repair = FUZZ_TARGETS[target][3] or (lambda blob: blob)

    @settings(
        max_examples=FUZZ_TARGETS[target][2],
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(damages=corruptions(len(raw)))
    def fuzz(damages):
        note(f"{target}: {victim} damaged by {damages!r}")
        blob = repair(corrupt(raw, damages))
        with tempfile.TemporaryDirectory(prefix="stonerimg-fuzz-") as tmp:
            folder = Path(tmp)
            for filename, content in files.items():
                (folder / filename).write_bytes(blob if filename == victim else content)
            path = folder / main
            before = snapshot(folder)
            try:
                document = guarded_load(path)
            except FormatError as err:
                check_format_error(err, path)
                assert_untouched(folder, before)
            except FileNotFoundError as err:
                if not is_missing_companion(err, path):
                    raise
                assert_untouched(folder, before)
            else:
                assert isinstance(document, ImageFile)
                assert isinstance(document.image, ImageArray)
                assert type(document.image.data) is np.ndarray
                assert document.filename == str(path)
                del document
                assert_untouched(folder, before)

    fuzz()


#: Lazy fuzz targets: the formats that open lazily -> examples.  After ``stonerimg.open`` every
#: pixel is read: a damaged file must give a FormatError at the open or at the read, nothing else.
LAZY_FUZZ = {"tiff": 60, "npy": 60, "stxm": 40, "nexus": 60, "dm": 60}


@pytest.mark.parametrize("target", list(LAZY_FUZZ))
def test_fuzz_lazy_open_and_full_read(target, originals):
    files, main, victim = originals(target)
    raw = files[victim]

    @settings(
        max_examples=LAZY_FUZZ[target],
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(damages=corruptions(len(raw)))
    def fuzz(damages):
        note(f"{target}: {victim} damaged by {damages!r} and opened lazily")
        blob = corrupt(raw, damages)
        with tempfile.TemporaryDirectory(prefix="stonerimg-fuzz-") as tmp:
            folder = Path(tmp)
            for filename, content in files.items():
                (folder / filename).write_bytes(blob if filename == victim else content)
            path = folder / main
            before = snapshot(folder)
            try:
                with time_limit(), stonerimg.open(path) as document:
                    pixels = np.array(document.image if hasattr(document, "image") else document, copy=True)
                    assert pixels.ndim >= 2  # as load() gives it (a header with no pixels gives 0 x 0)
                    del pixels
            except FormatError as err:
                assert str(path) in str(err)
            assert_untouched(folder, before)

    fuzz()


# --------------------------------------------------------------------------- the checks themselves


def test_time_limit_fails_a_slow_loader(tmp_path, monkeypatch):
    """A loader that does not finish fails the test (the registry's ``except Exception`` does not hide it)."""
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("no SIGALRM on this platform")

    def sleepy(path, **kwargs):
        time.sleep(30)

    fmt = registry.Format(name="bad-input-sleepy", extensions={".sleepy": 1}, load=sleepy)
    monkeypatch.setitem(registry._BUILTIN, fmt.name, fmt)
    path = tmp_path / "file.sleepy"
    path.write_bytes(b"zzz")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="hung"), time_limit(0.5):
        stonerimg.load(path)
    assert time.monotonic() - started < 10


def test_open_handles_and_maps_are_noticed(tmp_path):
    """assert_untouched notices a descriptor or a memory map left on an input, and a changed input."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    path = tmp_path / "input.bin"
    np.arange(1000, dtype=np.float64).tofile(path)
    before = snapshot(tmp_path)
    with open(path, "rb"), pytest.raises(AssertionError, match="file descriptor"):
        assert_untouched(tmp_path, before)
    mapped = np.memmap(path, dtype=np.float64, mode="r")
    with pytest.raises(AssertionError, match="memory map"):
        assert_untouched(tmp_path, before)
    del mapped
    assert_untouched(tmp_path, before)
    path.write_bytes(b"changed")
    with pytest.raises(AssertionError, match="changed"):
        assert_untouched(tmp_path, before)


def test_corrupt_applies_each_damage():
    raw = bytes(range(10))
    assert corrupt(raw, [("truncate", 4)]) == raw[:4]
    assert corrupt(raw, [("flip", 2, 0xFF)]) == raw[:2] + bytes([2 ^ 0xFF]) + raw[3:]
    assert corrupt(raw, [("overwrite", 8, b"abc")]) == raw[:8] + b"abc"
    assert corrupt(raw, [("insert", 1, b"xy")]) == raw[:1] + b"xy" + raw[1:]
    assert corrupt(raw, [("duplicate", 0, 3, 5)]) == raw[:5] + raw[:3] + raw[5:]
    assert corrupt(raw, [("truncate", 0), ("flip", 3, 1), ("insert", 7, b"z")]) == b"z"
