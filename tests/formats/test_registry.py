"""The format registry: discovery, candidate order, errors, atomic saves, read-only inputs, safety.

The helpers at the top (a metadata dict with every kind of value the codec promises to keep,
and a comparison that insists on equal *types* as well as equal values) are shared by the
TIFF, PNG and NPY tests.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import stonerimg
import stonerimg.formats as formats
from stonerimg import FormatError, ImageArray, ImageFile
from stonerimg.errors import FormatMismatch
from stonerimg.formats import Format, atomic_path

from .helpers import assert_same_pixels, sha256

TIFF_HEAD = b"II*\x00\x08\x00\x00\x00"
PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def save_reference_tiff(path: Path) -> np.ndarray:
    data = np.arange(7 * 13, dtype=np.uint16).reshape(7, 13)
    ImageArray(data, metadata={"sample": "ref"}).save(path)
    return data


def save_reference_png(path: Path) -> np.ndarray:
    data = (np.arange(7 * 13) * 3).astype(np.uint8).reshape(7, 13)
    ImageArray(data).save(path)
    return data


# --------------------------------------------------------------------------- test formats


@pytest.fixture
def temp_formats():
    """Register test formats; every one is removed from the registry afterwards."""
    names: list[str] = []

    def add(fmt: Format) -> Format:
        formats.register(fmt, replace=True)
        names.append(fmt.name)
        return fmt

    yield add
    for name in names:
        formats._BUILTIN.pop(name, None)


def _tiff_loader(path, **kwargs):
    from stonerimg.formats import tiff

    return tiff.load(path, **kwargs)


# --------------------------------------------------------------------------- available / register


class TestAvailable:
    def test_lists_builtin_formats(self):
        listing = {entry["name"]: entry for entry in formats.available()}
        assert {"tiff", "png", "npy"} <= set(listing)
        assert listing["tiff"]["extensions"] == {".tif": 10, ".tiff": 10}
        assert listing["png"]["extensions"] == {".png": 10}
        assert listing["npy"]["extensions"] == {".npy": 10}
        for name in ("tiff", "png", "npy"):
            entry = listing[name]
            assert entry["saves"] is True
            assert entry["lazy"] is (name != "png")  # TIFF and NPY open as disk images, PNG does not
            assert isinstance(entry["description"], str) and entry["description"]
            assert all(isinstance(p, int) for p in entry["extensions"].values())

    def test_listing_is_a_copy(self):
        listing = formats.available()
        next(e for e in listing if e["name"] == "tiff")["extensions"][".xyz"] = 1
        again = next(e for e in formats.available() if e["name"] == "tiff")
        assert ".xyz" not in again["extensions"]

    def test_registered_format_is_listed_with_saves_and_lazy(self, temp_formats):
        temp_formats(Format("t_lazy", {".lzy": 3}, load=_tiff_loader, save=lambda im, p: None, open=lambda p: None))
        entry = next(e for e in formats.available() if e["name"] == "t_lazy")
        assert entry["extensions"] == {".lzy": 3}
        assert entry["saves"] is True and entry["lazy"] is True

    def test_register_rejects_bad_input(self, temp_formats):
        with pytest.raises(TypeError):
            formats.register({"name": "x"})
        with pytest.raises(ValueError, match="already registered"):
            formats.register(Format("tiff", {".tif": 1}, load=_tiff_loader))
        with pytest.raises(ValueError, match="extensions"):
            formats.register(Format("t_bad", {"TIF": 1}, load=_tiff_loader))
        assert "t_bad" not in formats._BUILTIN
        assert formats.get("tiff").extensions == {".tif": 10, ".tiff": 10}


# --------------------------------------------------------------------------- candidates


class TestCandidates:
    def test_extension_match(self):
        assert [f.name for f in formats.candidates("x.tif", TIFF_HEAD)] == ["tiff"]
        assert [f.name for f in formats.candidates("X.TIFF", TIFF_HEAD)] == ["tiff"]
        # the Kerr format claims PNGs first and declines those without its metadata
        assert [f.name for f in formats.candidates("x.png", PNG_HEAD)] == ["kerr", "png"]
        assert [f.name for f in formats.candidates("x.npy", b"\x93NUMPY\x01\x00")] == ["npy"]

    def test_sniff_match_for_foreign_extension(self):
        assert [f.name for f in formats.candidates("x.dat", TIFF_HEAD)] == ["tiff"]
        assert [f.name for f in formats.candidates("x.tif", PNG_HEAD)] == ["kerr", "png"]
        assert formats.candidates("x.tif", b"just some text") == []

    def test_order_by_priority_then_sniff(self, temp_formats):
        early = temp_formats(Format("t_early", {".tif": 5}, load=_tiff_loader))
        late = temp_formats(Format("t_late", {".tif": 20}, load=_tiff_loader))
        sniffy = temp_formats(
            Format("t_sniffy", {".sny": 1}, load=_tiff_loader, sniff=lambda head: head.startswith(b"II*"))
        )
        names = [f.name for f in formats.candidates("x.tif", TIFF_HEAD)]
        # extension matches first, by priority; then the sniff match although its priority number is lowest
        assert names == [early.name, "tiff", late.name, sniffy.name]
        # a file with an unknown extension: only formats whose signature check accepts the bytes, by priority
        assert [f.name for f in formats.candidates("x.dat", TIFF_HEAD)] == [sniffy.name, "tiff"]
        assert [f.name for f in formats.candidates("x.dat", PNG_HEAD)] == ["kerr", "png"]

    def test_other_formats_are_sniffed_only_when_the_extension_formats_decline(self, temp_formats, tmp_path):
        sniffed = []

        def sniff(head):
            sniffed.append(head[:4])
            return head.startswith(b"II*")

        temp_formats(Format("t_sniff_log", {".sny": 1}, load=_tiff_loader, sniff=sniff))
        tif = tmp_path / "a.tif"
        data = save_reference_tiff(tif)
        assert np.array_equal(stonerimg.load(tif).data, data)
        assert sniffed == []  # the TIFF format claims .tif and reads it: nobody else is asked
        renamed = tmp_path / "a.dat"
        shutil.copy(tif, renamed)
        assert stonerimg.load(renamed).format == "t_sniff_log"  # no extension match: sniffed, best priority first
        assert sniffed == [b"II*\x00"]
        # candidates() still lists every format in the documented order (sniffing them all)
        assert [f.name for f in formats.candidates(tif, TIFF_HEAD)] == ["tiff", "t_sniff_log"]

    def test_magic_rejection_excludes_extension_match(self, temp_formats):
        temp_formats(Format("t_magic", {".tif": 1}, load=_tiff_loader, magic=(b"MAGIC",)))
        assert "t_magic" not in [f.name for f in formats.candidates("x.tif", TIFF_HEAD)]
        assert [f.name for f in formats.candidates("x.tif", b"MAGIC...")][0] == "t_magic"

    def test_broken_sniffer_does_not_stop_the_search(self, temp_formats, tmp_path, caplog):
        def bad_sniff(head):
            raise RuntimeError("sniffer exploded")

        temp_formats(Format("t_badsniff", {".bad": 1}, load=_tiff_loader, sniff=bad_sniff))
        path = tmp_path / "image.tif"
        data = save_reference_tiff(path)
        with caplog.at_level(logging.WARNING, logger="stonerimg.formats"):
            names = [f.name for f in formats.candidates(path, TIFF_HEAD)]
            loaded = stonerimg.load(path)
        assert names == ["tiff"]
        assert_same_pixels(data, loaded.data)
        assert "sniffer exploded" in caplog.text

    def test_cls_filter(self, temp_formats):
        class Special(ImageFile):
            pass

        temp_formats(Format("t_special", {".tif": 50}, load=_tiff_loader, cls=Special))
        assert [f.name for f in formats.candidates("x.tif", TIFF_HEAD, cls=Special)] == ["t_special"]
        assert [f.name for f in formats.candidates("x.tif", TIFF_HEAD, cls=ImageFile)] == ["tiff", "t_special"]


# --------------------------------------------------------------------------- loading through the registry


class TestLoad:
    def test_tiff_named_dat_loads_by_magic(self, tmp_path):
        data = save_reference_tiff(tmp_path / "image.tif")
        os.rename(tmp_path / "image.tif", tmp_path / "image.dat")
        loaded = stonerimg.load(tmp_path / "image.dat")
        assert loaded.format == "tiff"
        assert_same_pixels(data, loaded.data)
        assert loaded.metadata["sample"] == "ref"
        assert loaded.filename == str(tmp_path / "image.dat")

    def test_png_named_tif_loads_as_png(self, tmp_path):
        data = save_reference_png(tmp_path / "image.png")
        os.rename(tmp_path / "image.png", tmp_path / "image.tif")
        loaded = stonerimg.load(tmp_path / "image.tif")
        assert loaded.format == "png"
        assert_same_pixels(data, loaded.data)

    def test_lower_priority_number_is_tried_first(self, temp_formats, tmp_path):
        calls = []

        def mine(path, **kwargs):
            calls.append(Path(path).name)
            return ImageFile(np.full((2, 2), 7, dtype=np.uint8))

        temp_formats(Format("t_first", {".tif": 1}, load=mine))
        save_reference_tiff(tmp_path / "image.tif")
        loaded = stonerimg.load(tmp_path / "image.tif")
        assert calls == ["image.tif"]
        assert loaded.format == "t_first"
        assert_same_pixels(np.full((2, 2), 7, dtype=np.uint8), loaded.data)

    def test_format_mismatch_declines_and_next_is_tried(self, temp_formats, tmp_path):
        calls = []

        def decline(path, **kwargs):
            calls.append("declined")
            raise FormatMismatch("not mine")

        temp_formats(Format("t_decline", {".tif": 1}, load=decline))
        data = save_reference_tiff(tmp_path / "image.tif")
        loaded = stonerimg.load(tmp_path / "image.tif")
        assert calls == ["declined"]
        assert loaded.format == "tiff"
        assert_same_pixels(data, loaded.data)

    def test_unexpected_exception_is_recorded_and_search_goes_on(self, temp_formats, tmp_path, caplog):
        calls = []

        def explode(path, **kwargs):
            calls.append("exploded")
            raise RuntimeError("loader bug")

        temp_formats(Format("t_explode", {".tif": 1}, load=explode))
        data = save_reference_tiff(tmp_path / "image.tif")
        with caplog.at_level(logging.INFO, logger="stonerimg.formats"):
            loaded = stonerimg.load(tmp_path / "image.tif")
        assert calls == ["exploded"]
        assert loaded.format == "tiff"
        assert_same_pixels(data, loaded.data)
        assert any("t_explode" in record.getMessage() for record in caplog.records)

    def test_format_error_lists_every_attempt(self, temp_formats, tmp_path):
        def decline(path, **kwargs):
            raise FormatMismatch("not mine")

        def explode(path, **kwargs):
            raise RuntimeError("loader bug")

        temp_formats(Format("t_no1", {".xyz": 1}, load=decline))
        temp_formats(Format("t_no2", {".xyz": 2}, load=explode))
        path = tmp_path / "thing.xyz"
        path.write_bytes(b"whatever is in here")
        with pytest.raises(FormatError) as info:
            stonerimg.load(path)
        err = info.value
        assert isinstance(err, ValueError)
        assert err.filename == str(path)
        assert err.attempts == [("t_no1", "not mine"), ("t_no2", "RuntimeError: loader bug")]
        message = str(err)
        assert str(path) in message
        assert "t_no1: not mine" in message
        assert "t_no2: RuntimeError: loader bug" in message

    def test_corrupt_tiff_lists_tiff_with_its_reason(self, tmp_path):
        path = tmp_path / "broken.tif"
        path.write_bytes(TIFF_HEAD + b"\xff" * 40)
        with pytest.raises(FormatError) as info:
            stonerimg.load(path)
        assert [name for name, _ in info.value.attempts] == ["tiff"]
        assert info.value.attempts[0][1]
        assert str(path) in str(info.value) and "tiff:" in str(info.value)

    @pytest.mark.parametrize(
        ("name", "content", "named"),
        [
            ("notes.png", b"This is a plain text file, not a picture.\n" * 3, ["kerr", "png"]),
            ("noise.tif", bytes(np.random.default_rng(1).integers(16, 256, 300, dtype=np.uint8)), ["tiff"]),
            ("empty.tif", b"", None),
            ("noise.dat", bytes(np.random.default_rng(2).integers(16, 256, 300, dtype=np.uint8)), None),
        ],
    )
    def test_unreadable_files_raise_format_error(self, tmp_path, name, content, named):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(FormatError) as info:
            stonerimg.load(path)
        assert isinstance(info.value, ValueError)
        assert str(path) in str(info.value)
        if named:
            # the formats that claim the extension are named with the reason they did not read the file
            assert [attempt[0] for attempt in info.value.attempts] == named
            assert all(f"{name}: " in str(info.value) for name in named)
        with pytest.raises(FormatError):
            ImageFile(path)

    def test_empty_file_says_so(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        with pytest.raises(FormatError, match="empty"):
            stonerimg.load(tmp_path / "empty.png")

    def test_directory_raises_format_error(self, tmp_path):
        folder = tmp_path / "folder.tif"
        folder.mkdir()
        with pytest.raises(FormatError, match="directory") as info:
            stonerimg.load(folder)
        assert str(folder) in str(info.value)

    def test_missing_file_raises_file_not_found(self, tmp_path):
        missing = tmp_path / "missing.tif"
        with pytest.raises(FileNotFoundError) as info:
            stonerimg.load(missing)
        assert not isinstance(info.value, FormatError)
        assert str(missing) in str(info.value)
        with pytest.raises(FileNotFoundError):
            ImageFile.load(missing)

    def test_fmt_forces_a_format(self, tmp_path):
        data = save_reference_png(tmp_path / "image.png")
        os.rename(tmp_path / "image.png", tmp_path / "image.bin")
        loaded = stonerimg.load(tmp_path / "image.bin", fmt="png")
        assert loaded.format == "png"
        assert_same_pixels(data, loaded.data)
        # forcing a format that cannot read the file tries that format only
        with pytest.raises(FormatError) as info:
            stonerimg.load(tmp_path / "image.bin", fmt="tiff")
        assert [name for name, _ in info.value.attempts] == ["tiff"]

    def test_fmt_bypasses_candidate_order(self, temp_formats, tmp_path):
        temp_formats(Format("t_first", {".tif": 1}, load=lambda p, **k: ImageFile(np.zeros((1, 1)))))
        data = save_reference_tiff(tmp_path / "image.tif")
        loaded = ImageFile.load(tmp_path / "image.tif", fmt="tiff")
        assert loaded.format == "tiff"
        assert_same_pixels(data, loaded.data)

    def test_unknown_fmt_lists_known_names(self, tmp_path):
        save_reference_tiff(tmp_path / "image.tif")
        with pytest.raises(ValueError, match="no_such_format") as info:
            stonerimg.load(tmp_path / "image.tif", fmt="no_such_format")
        for name in ("tiff", "png", "npy"):
            assert name in str(info.value)

    def test_loader_kwargs_reach_the_loader(self, temp_formats, tmp_path):
        seen = {}

        def mine(path, **kwargs):
            seen.update(kwargs)
            return ImageFile(np.zeros((1, 1)))

        temp_formats(Format("t_kw", {".kw": 1}, load=mine))
        (tmp_path / "a.kw").write_bytes(b"data")
        stonerimg.load(tmp_path / "a.kw", frame=3)
        assert seen == {"frame": 3}


class MyImage(ImageFile):
    """An ImageFile subclass for the class-restricted loading tests."""


def save_my_tiff(path: Path) -> np.ndarray:
    data = np.arange(7 * 13, dtype=np.uint16).reshape(7, 13)[::-1]
    ImageArray(data, metadata={"sample": "ref", "kind": "MYIMAGE"}).save(path)
    return data


class TestSubclassLoad:
    @pytest.fixture
    def my_format(self, temp_formats):
        calls = []

        def load_mine(path, **kwargs):
            calls.append(Path(path).name)
            if b"MYIMAGE" not in Path(path).read_bytes():
                raise FormatMismatch("not a MyImage file")
            plain = _tiff_loader(path)
            return MyImage(plain.image)

        temp_formats(Format("t_myimage", {".tif": 90}, load=load_mine, cls=MyImage, magic=(b"II*\x00",)))
        return calls

    def test_subclass_load_uses_only_its_formats(self, my_format, tmp_path):
        data = save_my_tiff(tmp_path / "image.tif")
        loaded = MyImage.load(tmp_path / "image.tif")
        assert type(loaded) is MyImage
        assert loaded.format == "t_myimage"
        assert my_format == ["image.tif"]
        assert_same_pixels(data, loaded.data)
        assert loaded.metadata["sample"] == "ref"

    def test_constructor_with_path_gives_subclass(self, my_format, tmp_path):
        data = save_my_tiff(tmp_path / "image.tif")
        loaded = MyImage(tmp_path / "image.tif")
        assert type(loaded) is MyImage
        assert_same_pixels(data, loaded.data)

    def test_base_class_still_prefers_tiff(self, my_format, tmp_path):
        save_my_tiff(tmp_path / "image.tif")
        loaded = ImageFile.load(tmp_path / "image.tif")
        assert type(loaded) is ImageFile
        assert loaded.format == "tiff"
        assert my_format == []

    def test_subclass_load_does_not_fall_back(self, my_format, tmp_path):
        save_reference_png(tmp_path / "image.png")
        with pytest.raises(FormatError, match="MyImage"):
            MyImage.load(tmp_path / "image.png")
        # a TIFF that the subclass format declines is not handed to the plain tiff format
        save_reference_tiff(tmp_path / "plain.tif")
        with pytest.raises(FormatError) as info:
            MyImage.load(tmp_path / "plain.tif")
        assert info.value.attempts == [("t_myimage", "not a MyImage file")]
        assert my_format == ["plain.tif"]

    def test_fmt_of_another_class_is_refused(self, my_format, tmp_path):
        save_reference_tiff(tmp_path / "image.tif")
        with pytest.raises(ValueError, match="MyImage"):
            MyImage.load(tmp_path / "image.tif", fmt="tiff")


# --------------------------------------------------------------------------- entry points


class _EntryPoint:
    def __init__(self, name, target):
        self.name = name
        self._target = target

    def load(self):
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


def _plugin_loader(path, **kwargs):
    return ImageFile(np.frombuffer(Path(path).read_bytes()[4:], dtype=np.uint8).reshape(1, -1))


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Install fake entry points for the ``stonerimg.formats`` group; the discovery cache is reset around."""
    import importlib.metadata

    calls = []

    def install(entries):
        def entry_points(**kwargs):
            calls.append(kwargs)
            return list(entries) if kwargs.get("group") == "stonerimg.formats" else []

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        formats._plugins.cache_clear()
        return calls

    yield install
    formats._plugins.cache_clear()


class TestEntryPoints:
    def test_good_plugin_used_broken_plugin_warns(self, fake_entry_points, tmp_path):
        good = Format("t_plugin", {".plg": 10}, load=_plugin_loader, magic=(b"PLG1",))
        calls = fake_entry_points(
            [_EntryPoint("broken", ImportError("no module named nowhere")), _EntryPoint("good", good)]
        )
        path = tmp_path / "image.plg"
        path.write_bytes(b"PLG1" + bytes([1, 2, 3]))
        with pytest.warns(UserWarning, match="broken"):
            loaded = stonerimg.load(path)
        assert loaded.format == "t_plugin"
        assert_same_pixels(np.array([[1, 2, 3]], dtype=np.uint8), loaded.data)
        assert "t_plugin" in [e["name"] for e in formats.available()]
        assert "broken" not in [e["name"] for e in formats.available()]
        # discovery is cached: asking again does not scan the entry points again
        stonerimg.load(path)
        assert calls == [{"group": "stonerimg.formats"}]
        # a plugin file with another extension is still found by its magic bytes
        os.rename(path, tmp_path / "image.bin")
        assert stonerimg.load(tmp_path / "image.bin").format == "t_plugin"

    def test_plugin_factory_and_wrong_type(self, fake_entry_points, tmp_path):
        def factory():
            return Format("t_factory", {".fac": 10}, load=_plugin_loader)

        fake_entry_points([_EntryPoint("factory", factory), _EntryPoint("wrong", "not a format")])
        with pytest.warns(UserWarning, match="wrong"):
            names = [e["name"] for e in formats.available()]
        assert "t_factory" in names
        path = tmp_path / "a.fac"
        path.write_bytes(b"FAC0" + bytes([9]))
        assert stonerimg.load(path).format == "t_factory"

    def test_plugin_cannot_shadow_builtin(self, fake_entry_points, tmp_path):
        def hijack(path, **kwargs):
            raise AssertionError("plugin replaced the built-in tiff format")

        fake_entry_points([_EntryPoint("evil", Format("tiff", {".tif": 0}, load=hijack))])
        data = save_reference_tiff(tmp_path / "image.tif")
        loaded = stonerimg.load(tmp_path / "image.tif")
        assert loaded.format == "tiff"
        assert_same_pixels(data, loaded.data)


# --------------------------------------------------------------------------- saving


def _small_image() -> ImageArray:
    data = np.arange(7 * 13, dtype=np.uint16).reshape(7, 13)
    return ImageArray(data, metadata={"sample": "new"})


class TestSave:
    def test_unknown_extension(self, tmp_path):
        with pytest.raises(ValueError, match=r"\.xyz"):
            stonerimg.save(_small_image(), tmp_path / "image.xyz")
        with pytest.raises(ValueError):
            _small_image().save(tmp_path / "noextension")
        assert list(tmp_path.iterdir()) == []

    def test_unknown_fmt_on_save(self, tmp_path):
        with pytest.raises(ValueError, match="no_such_format"):
            stonerimg.save(_small_image(), tmp_path / "image.tif", fmt="no_such_format")
        assert list(tmp_path.iterdir()) == []

    def test_fmt_overrides_extension(self, tmp_path):
        image = _small_image()
        path = stonerimg.save(image, tmp_path / "image.dat", fmt="png")
        assert path == tmp_path / "image.dat"
        assert path.read_bytes().startswith(PNG_HEAD)
        assert_same_pixels(image.data, stonerimg.load(path).data)

    def test_save_returns_path_and_accepts_plain_arrays(self, tmp_path):
        data = np.arange(12, dtype=np.int32).reshape(3, 4)
        path = stonerimg.save(data, str(tmp_path / "plain.tif"))
        assert path == tmp_path / "plain.tif"
        assert_same_pixels(data, stonerimg.load(path).data)

    def test_missing_folder(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            stonerimg.save(_small_image(), tmp_path / "nowhere" / "image.tif")
        assert list(tmp_path.iterdir()) == []

    def test_failing_format_save_is_atomic(self, tmp_path, monkeypatch):
        target = tmp_path / "image.tif"
        save_reference_tiff(target)
        before_bytes = target.read_bytes()
        before_listing = sorted(os.listdir(tmp_path))

        def half_save(image, path, **kwargs):
            with atomic_path(path) as temp:
                temp.write_bytes(b"II*\x00 partial")
                raise OSError("disk full halfway")

        monkeypatch.setitem(formats._BUILTIN, "tiff", dataclasses.replace(formats.get("tiff"), save=half_save))
        with pytest.raises(OSError, match="disk full halfway"):
            stonerimg.save(_small_image(), target)
        assert target.read_bytes() == before_bytes
        assert sorted(os.listdir(tmp_path)) == before_listing

    @pytest.mark.parametrize("ext", [".tif", ".png", ".npy"])
    def test_builtin_savers_are_atomic(self, tmp_path, monkeypatch, ext):
        """The real savers write through a temporary file: make the library call fail halfway."""
        target = tmp_path / f"image{ext}"
        old = ImageArray(np.full((3, 4), 9, dtype=np.uint16), metadata={"old": True})
        old.save(target)
        before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}

        def fail(*args, **kwargs):
            destination = args[1] if ext == ".png" else args[0]
            if hasattr(destination, "write"):
                destination.write(b"partial")
            else:
                with open(destination, "wb") as handle:
                    handle.write(b"partial")
            raise OSError("disk full halfway")

        if ext == ".tif":
            import tifffile

            monkeypatch.setattr(tifffile, "imwrite", fail)
        elif ext == ".png":
            from PIL import Image

            monkeypatch.setattr(Image.Image, "save", fail)
        else:
            monkeypatch.setattr(np, "save", fail)
        with pytest.raises(OSError, match="disk full halfway"):
            _small_image().save(target)
        monkeypatch.undo()
        after = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
        assert after == before
        reloaded = stonerimg.load(target)
        assert reloaded.metadata["old"] is True

    @pytest.mark.parametrize("ext", [".tif", ".png", ".npy"])
    def test_saved_files_have_normal_permissions(self, tmp_path, ext):
        old_umask = os.umask(0o022)
        try:
            _small_image().save(tmp_path / f"image{ext}")
        finally:
            os.umask(old_umask)
        written = sorted(tmp_path.iterdir())
        assert [p.name for p in written] == ([f"image{ext}", f"image{ext}.json"] if ext == ".npy" else [f"image{ext}"])
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name

    @pytest.mark.parametrize("ext", [".tif", ".png", ".npy"])
    def test_save_leaves_no_temporary_files(self, tmp_path, ext):
        image = _small_image()
        image.save(tmp_path / f"image{ext}")
        image.save(tmp_path / f"image{ext}")  # overwrite
        expected = {f"image{ext}", f"image{ext}.json"} if ext == ".npy" else {f"image{ext}"}
        assert set(os.listdir(tmp_path)) == expected


# --------------------------------------------------------------------------- inputs are never modified


def _fingerprint(path: Path) -> tuple:
    info = path.stat()
    return sha256(path), info.st_mtime_ns, info.st_size, stat.S_IMODE(info.st_mode)


def _check_read_only_load(path: Path) -> ImageFile:
    folder = path.parent
    files = sorted(folder.iterdir())
    for file in files:
        os.chmod(file, 0o444)
    before = {file: _fingerprint(file) for file in files}
    loaded = stonerimg.load(path)
    assert sorted(folder.iterdir()) == files
    assert {file: _fingerprint(file) for file in files} == before
    return loaded


class TestReadOnlyInputs:
    def test_kerr_png_read_only(self, kerr_dir, tmp_path):
        copy = tmp_path / "kermit.png"
        shutil.copy2(kerr_dir / "kermit.png", copy)
        loaded = _check_read_only_load(copy)
        assert loaded.dtype == np.uint16
        assert sha256(copy) == sha256(kerr_dir / "kermit.png")

    def test_imagej_tiff_read_only(self, sample_data, tmp_path):
        source = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
        if not source.is_file():
            pytest.skip(f"{source} not in the sample data")
        copy = tmp_path / source.name
        shutil.copy2(source, copy)
        loaded = _check_read_only_load(copy)
        assert loaded.shape == (68, 68)

    @pytest.mark.parametrize("ext", [".tif", ".png", ".npy"])
    def test_own_files_read_only(self, tmp_path, ext):
        folder = tmp_path / "files"
        folder.mkdir()
        image = _small_image()
        image.save(folder / f"image{ext}")
        loaded = _check_read_only_load(folder / f"image{ext}")
        assert_same_pixels(image.data, loaded.data)

    @pytest.mark.parametrize("ext", [".tif", ".png", ".npy"])
    def test_load_in_read_only_directory(self, tmp_path, ext):
        folder = tmp_path / "locked"
        folder.mkdir()
        image = _small_image()
        image.save(folder / f"image{ext}")
        listing = sorted(os.listdir(folder))
        os.chmod(folder, 0o555)
        try:
            loaded = stonerimg.load(folder / f"image{ext}")
            assert sorted(os.listdir(folder)) == listing
        finally:
            os.chmod(folder, 0o755)
        assert_same_pixels(image.data, loaded.data)
        assert loaded.metadata["sample"] == "new"


# --------------------------------------------------------------------------- nothing read is executed

_PAYLOADS = {
    "x{Cluster}": "__import__('os').system('touch PWNED')",
    "y{List}": "[__import__('os').system('touch PWNED')]",
    "z{1D Array (Double Float)}": "array(__import__('os').system('touch PWNED'))",
    "w{Invalid Type}": "open('PWNED', 'w')",
    "v{Timestamp}": "__import__('os').system('touch PWNED')",
    "u{I32}": 'exec(\'open("PWNED", "w")\')',
    "t{Cluster (I32,String)}": "{'a': __import__('os').system('touch PWNED')}",
}


@pytest.fixture
def trap_module(tmp_path, monkeypatch):
    """A module on sys.path that leaves a marker file when imported."""
    modules = tmp_path / "modules"
    modules.mkdir()
    marker = tmp_path / "IMPORTED"
    name = "stonerimg_test_trap_module"
    (modules / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass ImageArray:\n    pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name, marker


@pytest.mark.parametrize("module", ["os", "trap"])
def test_stoner_description_is_never_executed(tmp_path, monkeypatch, trap_module, module):
    from PIL import Image
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    trap_name, trap_marker = trap_module
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    data = np.arange(7 * 13, dtype=np.uint8).reshape(7, 13)
    ifd = ImageFileDirectory_v2()
    ifd[270] = json.dumps(
        {
            "type": "system" if module == "os" else "ImageArray",
            "module": "os" if module == "os" else trap_name,
            "metadata": [f"{key}={value}" for key, value in _PAYLOADS.items()],
        }
    )
    Image.fromarray(data).save(work / "evil.tif", tiffinfo=ifd)
    loaded = stonerimg.load(work / "evil.tif")
    assert not (work / "PWNED").exists()
    assert not trap_marker.exists()
    assert trap_name not in sys.modules
    assert_same_pixels(data, loaded.data)
    for key, value in _PAYLOADS.items():
        name = key.partition("{")[0]
        assert loaded.metadata[name] == value
        assert type(loaded.metadata[name]) is str
    assert sorted(os.listdir(work)) == ["evil.tif"]


def test_unregister_takes_a_format_out_and_says_when_there_is_none(tmp_path):
    fmt = Format("unregister_me", {".unreg": 10}, load=lambda path, **kwargs: ImageFile(np.zeros((2, 2))))
    formats.register(fmt)
    (tmp_path / "a.unreg").write_bytes(b"x")
    assert stonerimg.load(tmp_path / "a.unreg").shape == (2, 2)
    assert formats.unregister("unregister_me") is fmt
    assert "unregister_me" not in [f["name"] for f in formats.available()]
    with pytest.raises(FormatError):
        stonerimg.load(tmp_path / "a.unreg")
    with pytest.raises(ValueError, match="unregister_me"):
        formats.unregister("unregister_me")


@pytest.mark.parametrize(("name", "options"), [("a.png", {"forcetype": True}), ("a.npy", {"compress": True})])
def test_savers_refuse_options_they_do_not_know(tmp_path, name, options):
    image = ImageArray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    with pytest.raises(TypeError, match=next(iter(options))):
        image.save(tmp_path / name, **options)
    assert list(tmp_path.iterdir()) == []
    image.save(tmp_path / "ok.png", compress_level=1)  # a real Pillow option still passes through
    assert stonerimg.load(tmp_path / "ok.png").data.tolist() == image.data.tolist()


def test_fmt_must_be_a_name(tmp_path):
    with pytest.raises(TypeError, match="fmt"):
        stonerimg.save(ImageArray(np.zeros((2, 2))), tmp_path / "a.tif", fmt=["tiff", "png"])
