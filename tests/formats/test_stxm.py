"""PolLux STXM files: class, orientation, calibration, metadata, XMCD, save, regrid and bcn."""

from __future__ import annotations

import hashlib
import os
import shutil

import h5py
import numpy as np
import pytest
from scipy.interpolate import griddata

import stonerimg
from stonerimg import FormatError, ImageFile
from stonerimg.formats.stxm import STXMImage

BIG = "Sample_Image_2017-10-15_100.hdf5"
TINY = "Pollux-STXM Image.hdf5"


@pytest.fixture(scope="module")
def big(stxm_dir):
    return stonerimg.load(stxm_dir / BIG)


def read_entry(path):
    """Read the datasets the tests compare with, independently of stonerimg."""
    with h5py.File(path, "r") as f:
        e = f["entry1"]
        return {
            "data": e["counter0/data"][()],
            "sx": e["counter0/sample_x"][()],
            "sy": e["counter0/sample_y"][()],
            "control": e["control/data"][()],
            "ax": e["instrument/sample_x/data"][()] if "instrument/sample_x/data" in e else None,
            "ay": e["instrument/sample_y/data"][()] if "instrument/sample_y/data" in e else None,
            "polarization": float(e["collection/polarization/value"][0]),
            "energy": float(e["collection/energy/value"][0]),
        }


def count_items(path) -> int:
    """Datasets of 0/1 dimensions and attributes below entry1, counted with h5py."""
    count = 0
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            nonlocal count
            count += len(obj.attrs)
            if isinstance(obj, h5py.Dataset) and obj.ndim <= 1:
                count += 1

        count += len(f["entry1"].attrs)
        f["entry1"].visititems(visit)
    return count


def write_nxstxm(path, data, sx, sy, polarization=1.0, energy=706.0, monitor=None):
    """A minimal PolLux-like NXstxm file, as the beamline writes it ([y, x], y ascending)."""
    with h5py.File(path, "w") as f:
        e = f.create_group("entry1")
        e["definition"] = np.array([b"NXstxm"])
        c = e.create_group("counter0")
        c["data"] = data
        c["sample_x"] = sx
        c["sample_y"] = sy
        c["sample_x"].attrs["units"] = b"\xce\xbcm"
        c["sample_y"].attrs["units"] = b"\xce\xbcm"
        col = e.create_group("collection")
        col["polarization/value"] = np.array([polarization])
        col["energy/value"] = np.array([energy])
        col["energy/value"].attrs["units"] = b"eV"
        if monitor is not None:
            e["control/data"] = monitor


class TestRealFiles:
    @pytest.mark.parametrize("name", [BIG, TINY])
    def test_every_way_of_loading_gives_an_stxm_image(self, stxm_dir, name):
        path = stxm_dir / name
        for document in (stonerimg.load(path), ImageFile.load(path), STXMImage.load(path), STXMImage(path)):
            assert isinstance(document, STXMImage)
            assert document.filename == str(path)

    def test_unusual_extension_is_found_by_its_signature(self, stxm_dir, tmp_path):
        target = tmp_path / "scan.dat"
        shutil.copy(stxm_dir / BIG, target)
        document = stonerimg.load(target)
        assert isinstance(document, STXMImage) and document.format == "stxm"

    def test_orientation_row_zero_is_the_highest_sample_y(self, stxm_dir, big):
        ref = read_entry(stxm_dir / BIG)
        assert np.all(np.diff(ref["sy"]) > 0)  # the file stores y ascending
        np.testing.assert_array_equal(big.data, ref["data"][::-1, :])
        assert big.shape == (ref["sy"].size, ref["sx"].size)
        xx, yy = big["sample_x"], big["sample_y"]
        np.testing.assert_array_equal(xx[0], ref["sx"])
        np.testing.assert_array_equal(yy[:, 0], ref["sy"][::-1])
        assert yy[0, 0] == ref["sy"].max() and xx[0, 0] == ref["sx"].min()
        # interferometer positions: grid[i, j] is where pixel [i, j] was measured
        np.testing.assert_array_equal(big["actual_x"], ref["ax"].reshape(ref["data"].shape)[::-1])
        np.testing.assert_array_equal(big["actual_y"], ref["ay"].reshape(ref["data"].shape)[::-1])
        assert np.abs(big["actual_x"] - xx).max() < 0.2 and np.abs(big["actual_y"] - yy).max() < 0.2

    def test_beam_current_is_an_image_oriented_like_the_data(self, stxm_dir, big):
        ref = read_entry(stxm_dir / BIG)
        current = big.beam_current
        assert isinstance(current, stonerimg.ImageArray)
        np.testing.assert_array_equal(current.data, ref["control"][::-1])
        assert current.calibration == big.calibration

    def test_calibration_from_the_stage_positions(self, stxm_dir, big):
        ref = read_entry(stxm_dir / BIG)
        cal = big.calibration
        sx, sy = ref["sx"], ref["sy"]
        assert cal.x.units == cal.y.units == "µm"
        assert cal.x.scale == pytest.approx((sx[-1] - sx[0]) / (sx.size - 1))
        assert cal.x.offset == pytest.approx(sx[0])
        assert cal.y.scale == pytest.approx(-(sy[-1] - sy[0]) / (sy.size - 1))  # row 0 is the highest y
        assert cal.y.offset == pytest.approx(sy[-1])
        np.testing.assert_allclose(cal.x.to_physical(np.arange(sx.size)), big["sample_x"][0], atol=1e-9)
        np.testing.assert_allclose(cal.y.to_physical(np.arange(sy.size)), big["sample_y"][:, 0], atol=1e-9)

    def test_metadata_keeps_every_item_with_types(self, stxm_dir, big):
        md = big.metadata
        assert md["collection.polarization.value"] == pytest.approx(0.2)
        assert isinstance(md["collection.polarization.value"], (float, np.floating))
        assert md["instrument.source.current"] == pytest.approx(399.52921756)
        assert md["instrument.source.name"] == "Swiss Light Source"
        assert md["polarization"] == pytest.approx(0.2) and big.polarization == 1
        assert md["energy"] == pytest.approx(read_entry(stxm_dir / BIG)["energy"])
        assert isinstance(md["counter0.sample_x"], np.ndarray)
        assert any(k.startswith("file.") for k in md)
        # the unit strings mix UTF-8 (b'\xce\xbcm') and Latin-1 (b'\xb5rad'): both decoded
        texts = [v for v in md.values() if isinstance(v, str)]
        assert any("µm" in t for t in texts) and any("µrad" in t for t in texts)
        assert not any(isinstance(v, bytes) for v in md.values())
        assert len(md) >= count_items(stxm_dir / BIG) * 0.9
        assert len(md) > 650

    def test_tiny_image(self, stxm_dir):
        document = stonerimg.load(stxm_dir / TINY)
        ref = read_entry(stxm_dir / TINY)
        assert document.shape == (2, 2)
        np.testing.assert_array_equal(document.data, ref["data"][::-1])
        assert document["polarization"] == pytest.approx(-0.2) and document.polarization == -1

    def test_the_input_file_is_never_changed(self, stxm_dir, tmp_path):
        target = tmp_path / "ro.hdf5"
        shutil.copy(stxm_dir / BIG, target)
        os.chmod(target, 0o444)
        before = hashlib.sha256(target.read_bytes()).hexdigest(), target.stat().st_mtime_ns
        document = stonerimg.load(target)
        assert isinstance(document, STXMImage)
        assert (hashlib.sha256(target.read_bytes()).hexdigest(), target.stat().st_mtime_ns) == before


class TestSynthetic:
    def test_non_square_scan_is_not_transposed(self, tmp_path):
        sx = np.linspace(10, 40, 300)
        sy = np.linspace(-5, 3, 80)
        data = np.random.default_rng(0).random((80, 300))
        write_nxstxm(tmp_path / "wide.hdf5", data, sx, sy)
        document = stonerimg.load(tmp_path / "wide.hdf5")
        assert document.shape == (80, 300)
        np.testing.assert_array_equal(document.data, data[::-1])
        assert document.geometry == (300, 80)
        assert document.calibration.x.scale == pytest.approx(30 / 299)
        assert document.calibration.y.scale == pytest.approx(-8 / 79)

    def test_hdf5_that_is_not_nxstxm_is_not_an_stxm_image(self, tmp_path):
        with h5py.File(tmp_path / "plain.h5", "w") as f:
            f["image"] = np.ones((4, 5))
        with pytest.raises(FormatError, match="stxm"):
            STXMImage.load(tmp_path / "plain.h5")

    def test_save_loads_back_equal(self, tmp_path, stxm_dir):
        document = stonerimg.load(stxm_dir / BIG)
        document.mask = document.data > np.percentile(document.data, 95)
        document.save(tmp_path / "copy.hdf5")
        again = stonerimg.load(tmp_path / "copy.hdf5")
        assert isinstance(again, STXMImage)
        assert again == document
        with h5py.File(tmp_path / "copy.hdf5", "r") as f:
            assert f["entry1/definition"][0] == b"NXstxm"
            np.testing.assert_array_equal(f["entry1/counter0/data"][()], read_entry(stxm_dir / BIG)["data"])

    def test_bcn_divides_by_the_beam_current(self, tmp_path):
        rng = np.random.default_rng(1)
        data, monitor = rng.random((6, 7)) + 1, rng.random((6, 7)) + 2
        write_nxstxm(tmp_path / "m.hdf5", data, np.arange(7.0), np.arange(6.0), monitor=monitor)
        document = STXMImage.load(tmp_path / "m.hdf5", bcn=True)
        np.testing.assert_allclose(document.data, (data / monitor)[::-1])
        assert document["history"][-1] == "bcn()"

    def test_regrid_matches_griddata_and_is_idempotent(self, stxm_dir):
        raw = STXMImage.load(stxm_dir / BIG)
        regridded = STXMImage.load(stxm_dir / BIG, regrid=True)
        points = np.column_stack([raw["actual_x"].ravel(), raw["actual_y"].ravel()])
        expected = griddata(points, raw.data.ravel(), (raw["sample_x"], raw["sample_y"]), method="linear")
        inside = ~np.isnan(expected)
        np.testing.assert_allclose(regridded.data[inside], expected[inside])
        assert np.array_equal(np.ma.getmaskarray(regridded.image), ~inside)
        np.testing.assert_array_equal(regridded["actual_x"], raw["sample_x"])
        twice = regridded.clone.gridimage()
        np.testing.assert_allclose(twice.data[inside], regridded.data[inside])


def pair(shape=(5, 6)):
    rng = np.random.default_rng(2)
    plus = STXMImage(rng.random(shape) + 1, metadata={"polarization": 0.2})
    minus = STXMImage(rng.random(shape) + 1, metadata={"polarization": -0.2})
    return plus, minus


class TestXMCD:
    def test_ratio_in_either_order(self):
        plus, minus = pair()
        p, m = plus.data, minus.data
        for result in (plus // minus, minus // plus):
            assert isinstance(result, STXMImage)
            np.testing.assert_allclose(result.data, (p - m) / (p + m))
            assert result.polarization == 0

    def test_same_sign_is_a_value_error(self):
        plus, _ = pair()
        with pytest.raises(ValueError, match="same polarization"):
            _ = plus // plus.clone

    def test_not_an_image_is_a_type_error(self):
        plus, _ = pair()
        for other in (2, np.ones((5, 6)), ImageFile(np.ones((5, 6)))):
            with pytest.raises(TypeError, match="polarization"):
                _ = plus // other

    def test_inputs_are_unchanged(self):
        plus, minus = pair()
        before = plus.clone, minus.clone
        _ = plus // minus
        assert plus == before[0] and minus == before[1]
