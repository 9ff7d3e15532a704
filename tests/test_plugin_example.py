"""The example format plugin of doc/plugins.md (doc/examples/stonerimg-csvimage) works end to end.

The plugin is "installed" without network or pip: a fake distribution (a
``*.dist-info`` folder whose ``entry_points.txt`` is made from the example's own
``pyproject.toml``) goes on ``sys.path`` beside the example's module, so the real
:func:`importlib.metadata.entry_points` discovers it as it would an installed package.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import stonerimg
from stonerimg import formats
from stonerimg.errors import FormatMismatch
from stonerimg.folder import ImageFolder

EXAMPLE = Path(__file__).resolve().parent.parent / "doc" / "examples" / "stonerimg-csvimage"
GROUP = "stonerimg.formats"


def _read_pyproject(path: Path) -> tuple[str, str, dict[str, str]]:
    """Name, version and ``stonerimg.formats`` entry points of the example's ``pyproject.toml``.

    Read with a few strict patterns rather than :mod:`tomllib`, which Python 3.10 lacks; a
    change of layout makes them fail loudly.
    """
    text = path.read_text(encoding="utf-8")
    name = re.search(r'^name = "([^"]+)"$', text, re.MULTILINE)
    version = re.search(r'^version = "([^"]+)"$', text, re.MULTILINE)
    table = re.search(
        rf'^\[project\.entry-points\."{re.escape(GROUP)}"\]\n(.*?)(?=^\[|\Z)', text, re.MULTILINE | re.DOTALL
    )
    assert name and version and table, f"unexpected layout of {path}"
    entries = dict(re.findall(r'^(\w+) = "([^"]+)"$', table[1], re.MULTILINE))
    assert entries, f"no entry point in the {GROUP} table of {path}"
    return name[1], version[1], entries


@pytest.fixture
def plugin_installed(tmp_path_factory, monkeypatch):
    """Make the example package importable and discoverable through its entry point."""
    name, version, entries = _read_pyproject(EXAMPLE / "pyproject.toml")
    site = tmp_path_factory.mktemp("site")
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"  # what pip installs
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{entry} = {target}\n" for entry, target in entries.items())
    (dist_info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "stonerimg_csvimage", raising=False)
    formats._plugins.cache_clear()
    yield
    formats._plugins.cache_clear()


@pytest.fixture
def plugin(plugin_installed):
    """The example plugin's module, imported the way the entry point imports it."""
    import stonerimg_csvimage

    return stonerimg_csvimage


def _image(dtype=np.float64) -> stonerimg.ImageArray:
    """A small image with a masked pixel and metadata of many types."""
    data = np.arange(12).reshape(3, 4)
    data = data % 2 == 0 if np.dtype(dtype).kind == "b" else (data * (0.25 if np.dtype(dtype).kind == "f" else 1))
    data = data.astype(dtype)
    mask = np.zeros(data.shape, bool)
    mask[1, 2] = True
    metadata = {
        "sample": "Py disc",
        "energy": 706.8,
        "calibration.x.scale": 0.05,
        "calibration.x.units": "µm",
        "roi": (1, 3, 0, 2),
        "profile": np.linspace(0, 1, 5, dtype=np.float32),
        "started": datetime.datetime(2024, 5, 1, 9, 30),
        "field: units": "Oe",
        "gain": np.float32(2.5),
        "dark": float("nan"),
    }
    return stonerimg.ImageArray(data, mask=mask, metadata=metadata)


class TestDiscovery:
    def test_pyproject_names_the_format(self, plugin_installed):
        found = [e for e in importlib.metadata.entry_points(group=GROUP) if e.name == "csvimage"]
        assert [e.value for e in found] == ["stonerimg_csvimage:FORMAT"]
        fmt = found[0].load()
        assert isinstance(fmt, formats.Format)
        assert fmt.name == "csvimage"

    def test_listed_and_found_by_name(self, plugin):
        listed = {f["name"]: f for f in formats.available()}
        assert listed["csvimage"]["saves"] is True
        assert listed["csvimage"]["extensions"] == {".csv": 20}
        assert formats.get("csvimage") is plugin.FORMAT

    def test_not_found_without_the_distribution(self, monkeypatch, tmp_path):
        monkeypatch.syspath_prepend(str(EXAMPLE))  # importable, but no entry point declares it
        formats._plugins.cache_clear()
        try:
            assert "csvimage" not in [f["name"] for f in formats.available()]
            with pytest.raises(ValueError, match="no format saves '.csv'"):
                stonerimg.save(np.zeros((2, 2)), tmp_path / "never-written.csv")
        finally:
            formats._plugins.cache_clear()


class TestRoundTrip:
    @pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16, np.uint16, np.int64, np.float16, np.float32, float])
    def test_pixels_mask_metadata(self, plugin, tmp_path, dtype):
        image = _image(dtype)
        path = stonerimg.save(image, tmp_path / "scan.csv")  # the extension picks the plugin
        loaded = stonerimg.load(path)
        assert loaded.format == "csvimage"
        assert type(loaded) is stonerimg.ImageFile
        assert loaded.dtype == np.dtype(dtype)
        assert_array_equal(np.ma.getmaskarray(loaded.image), np.ma.getmaskarray(image))
        unmasked = ~np.ma.getmaskarray(image)
        assert_array_equal(loaded.data[unmasked], image.data[unmasked])
        assert loaded.metadata == image.metadata
        assert type(loaded.metadata["roi"]) is tuple
        assert loaded.metadata["profile"].dtype == np.float32
        assert loaded.metadata["gain"].dtype == np.float32

    def test_pixels_read_by_numpy(self, plugin, tmp_path):
        rng = np.random.default_rng(3)
        data = rng.normal(size=(5, 7))
        data[2, 3] = np.nan
        stonerimg.ImageArray(data, metadata={"sample": "Py"}).save(tmp_path / "noise.csv")
        assert_array_equal(np.loadtxt(tmp_path / "noise.csv", delimiter=","), data)  # float64 exactly, NaN too

    def test_hand_written_file(self, plugin, tmp_path):
        path = tmp_path / "typed.csv"
        path.write_text("# csvimage uint8\n# sample = Py disc\n# energy = 706.8\n# roi = [1, 2]\n1,2,3\n4,,6\n")
        loaded = stonerimg.load(path)
        assert dict(loaded.metadata) == {"sample": "Py disc", "energy": 706.8, "roi": [1, 2]}
        assert loaded.dtype == np.uint8
        assert loaded.data.tolist() == [[1, 2, 3], [4, 0, 6]]
        assert np.ma.getmaskarray(loaded.image).tolist() == [[False] * 3, [False, True, False]]

    def test_image_file_methods_and_folder(self, plugin, tmp_path):
        for i in range(3):
            stonerimg.ImageFile(np.full((4, 6), float(i)), metadata={"scan": i}).save(tmp_path / f"scan_{i}.csv")
        folder = ImageFolder(tmp_path, "*.csv")
        assert [doc["scan"] for doc in folder] == [0, 1, 2]
        report = folder.convert(tmp_path / "tif", fmt="tiff")
        assert report.ok and len(report.converted) == 3
        back = stonerimg.load(tmp_path / "tif" / "scan_2.tif")
        assert back["scan"] == 2
        assert_array_equal(back.data, np.full((4, 6), 2.0))
        out = folder.convert(tmp_path / "again", fmt="csvimage")  # a plugin format is a conversion target too
        assert out.ok and sorted(output.name for _, output in out.converted) == [
            "scan_0.csv",
            "scan_1.csv",
            "scan_2.csv",
        ]
        assert_array_equal(stonerimg.load(tmp_path / "again" / "scan_1.csv").data, np.full((4, 6), 1.0))


class TestSaving:
    def test_saver_leaves_image_unchanged(self, plugin, tmp_path):
        image = _image()
        before = image.clone
        image.save(tmp_path / "a.csv")
        assert image.metadata == before.metadata
        assert_array_equal(image.data, before.data)
        assert_array_equal(np.ma.getmaskarray(image), np.ma.getmaskarray(before))

    def test_failed_save_keeps_the_old_file(self, plugin, tmp_path, monkeypatch):
        target = tmp_path / "a.csv"
        stonerimg.ImageArray(np.ones((2, 2))).save(target)
        old = target.read_bytes()

        def write_half_then_fail(self, text, **kwargs):
            with open(self, "w", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])
            raise OSError("disk full")

        monkeypatch.setattr(Path, "write_text", write_half_then_fail)
        with pytest.raises(OSError, match="disk full"):
            stonerimg.ImageArray(np.zeros((20, 20))).save(target)
        assert target.read_bytes() == old
        assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # no temporary file left

    @pytest.mark.parametrize(
        ("image", "match"),
        [
            (stonerimg.ImageArray(np.zeros((2, 2), complex)), "not complex128"),
            (stonerimg.ImageArray(np.zeros((2, 2, 2))), "2-D image"),
            (stonerimg.ImageArray(np.zeros((2, 2)), metadata={"a = b": 1}), "'a = b' cannot be written"),
        ],
    )
    def test_refuses_what_it_cannot_hold(self, plugin, tmp_path, image, match):
        with pytest.raises(ValueError, match=match):
            image.save(tmp_path / "bad.csv")
        assert not list(tmp_path.iterdir())

    def test_no_saver_options(self, plugin, tmp_path):
        with pytest.raises(TypeError, match="compression"):
            stonerimg.save(np.zeros((2, 2)), tmp_path / "a.csv", compression=9)


class TestRecognition:
    def test_sniffed_by_content_whatever_the_name(self, plugin, tmp_path):
        stonerimg.ImageArray(np.eye(3), metadata={"sample": "Py"}).save(tmp_path / "a.csv")
        renamed = tmp_path / "exported.dat"
        (tmp_path / "a.csv").rename(renamed)
        loaded = stonerimg.load(renamed)
        assert loaded.format == "csvimage"
        assert_array_equal(loaded.data, np.eye(3))

    def test_csv_without_signature_is_not_taken(self, plugin, tmp_path):
        path = tmp_path / "plain.csv"
        path.write_text("1,2,3\n4,5,6\n")
        with pytest.raises(stonerimg.FormatError) as caught:
            stonerimg.load(path)
        assert caught.value.attempts == [("csvimage", "the file's first bytes are not a csvimage signature")]

    def test_loader_declines_other_files(self, plugin, tmp_path):
        stonerimg.ImageArray(np.eye(3)).save(tmp_path / "a.tif")
        with pytest.raises(FormatMismatch, match="signature"):
            plugin.load(tmp_path / "a.tif")
        with pytest.raises(stonerimg.FormatError, match=r"csvimage: no '# csvimage' signature"):
            stonerimg.load(tmp_path / "a.tif", fmt="csvimage")
        assert stonerimg.load(tmp_path / "a.tif").format == "tiff"  # the plugin does not get in the way

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("# csvimage float64\n1,2,3\n4,5\n", "line 3: 2 values, but the first row has 3"),
            ("# csvimage uint8\n1,2\n3,x\n", "not a uint8 number"),
            ("# csvimage uint8\n1,2\n3,300\n", "not a uint8 number"),
            ("# csvimage complex128\n1,2\n", "not complex128"),
            ("# csvimage nonsense\n1,2\n", "'nonsense' is not a NumPy dtype"),
            ("# csvimage float64\n# no equals sign\n1,2\n", "line 2: expected '# key = value'"),
            ("# csvimage float64\n# a = 1\n", "no rows of pixels"),
            ('# csvimage float64\n# a = {"__type__": "ndarray"}\n1\n', "bad metadata"),
            ("# csvimage bool\n0,2\n", "only 0 and 1"),
        ],
    )
    def test_malformed_file_is_a_format_error(self, plugin, tmp_path, text, match):
        path = tmp_path / "broken.csv"
        path.write_text(text)
        with pytest.raises(stonerimg.FormatError) as caught:
            stonerimg.load(path)
        assert caught.value.filename == str(path)
        [(name, reason)] = caught.value.attempts
        assert name == "csvimage"
        assert reason.startswith("ValueError: ")
        assert match in reason

    def test_nothing_is_evaluated(self, plugin, tmp_path):
        path = tmp_path / "evil.csv"
        path.write_text("# csvimage float64\n# a = __import__('os').remove('x')\n1\n")
        assert stonerimg.load(path)["a"] == "__import__('os').remove('x')"  # kept as text


def test_register_directly(tmp_path, monkeypatch):
    """Without installing anything: register the Format in this session."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setattr(formats, "_BUILTIN", dict(formats._BUILTIN))  # forgotten after the test
    import stonerimg_csvimage

    formats.register(stonerimg_csvimage.FORMAT)
    with pytest.raises(ValueError, match="already registered"):
        formats.register(stonerimg_csvimage.FORMAT)
    formats.register(stonerimg_csvimage.FORMAT, replace=True)
    image = _image()
    stonerimg.save(image, tmp_path / "direct.csv")
    loaded = stonerimg.load(tmp_path / "direct.csv")
    assert loaded.format == "csvimage"
    assert loaded.metadata == image.metadata
