"""xarray and HyperSpy conversions: round trips, foreign objects, errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings

import numpy as np
import pytest

from stonerimg import ImageArray, ImageFile, ImageStack, Metadata, load
from stonerimg.interop import from_hyperspy, from_xarray, to_hyperspy, to_xarray


@pytest.fixture(scope="module")
def xr():
    """xarray, or a skip where it is not installed."""
    return pytest.importorskip("xarray")


@pytest.fixture(scope="module")
def hs():
    """HyperSpy's API (an optional extra), or a skip where it is not installed."""
    return pytest.importorskip("hyperspy.api")


# ---------------------------------------------------------------- fixtures
def awkward_metadata() -> dict:
    """Items of every kind the metadata codec stores, including ones a nested tree cannot tell apart."""
    return {
        "sample": "Py",
        "a": "a value and a prefix",
        "a.b": 1,
        "a.b.c": np.float32(2.5),
        "d": {"k": 1, "n": {"q": [1, 2]}},  # a dict value, not a branch
        "t": (1, "two"),
        "when": dt.datetime(2020, 1, 2, 3, 4, 5),
        "arr": np.arange(6, dtype=np.int16).reshape(2, 3),
        "none": None,
        "c": 1 + 2j,
        "raw": b"\x00\xff",
        "flag": True,
        "nan": float("nan"),
        "history": ["crop(1)", "normalise()"],
        "µ.units": "µm",
    }


@pytest.fixture
def image() -> ImageArray:
    data = np.arange(20 * 30, dtype=float).reshape(20, 30)
    im = ImageArray(data, metadata=awkward_metadata())
    im.set_calibration((0.1, 0.3), "nm", offset=(0.7, -2.0))
    im[3, 4] = np.ma.masked
    im[10, 0] = np.ma.masked
    im.filename = "/data/scan.tif"
    return im


@pytest.fixture
def stack() -> ImageStack:
    rng = np.random.default_rng(0)
    frames = [
        ImageArray(rng.random((6, 8)), metadata={"field": 10.0 * i, "run": i, "label": f"f{i}", "extra": [i]})
        for i in range(4)
    ]
    frames[1][2, 3] = np.ma.masked
    st = ImageStack(frames, metadata={"sample": "Py", "when": dt.date(2021, 5, 6)})
    st.image.set_calibration(0.5, "µm", offset=(1.0, 2.0))
    st.metadata["calibration.z.scale"] = 2.0
    st.metadata["calibration.z.units"] = "nm"
    st.metadata_of(2)["only.here"] = (1, 2)
    return st


def assert_same_image(a: ImageArray, b: ImageArray) -> None:
    assert type(a) is type(b)
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
    assert a.metadata == b.metadata
    assert a.calibration == b.calibration


# ---------------------------------------------------------------- to_xarray
def test_to_xarray_matches_a_dataarray_built_by_hand(image, xr):
    expected = xr.DataArray(
        np.asarray(image.data),
        dims=("y", "x"),
        coords={
            "y": ("y", -2.0 + 0.3 * np.arange(20), {"units": "nm"}),
            "x": ("x", 0.7 + 0.1 * np.arange(30), {"units": "nm"}),
            "mask": (("y", "x"), np.ma.getmaskarray(image)),
        },
        attrs=dict(image.metadata),
    )
    da = to_xarray(image)
    xr.testing.assert_identical(da, expected)
    assert da.encoding["source"] == "/data/scan.tif"
    assert np.shares_memory(da.values, image.data)
    assert da.attrs["when"] == dt.datetime(2020, 1, 2, 3, 4, 5)  # values, not text


def test_to_xarray_uncalibrated_gives_pixel_coordinates_and_no_mask(xr):
    im = ImageArray(np.zeros((2, 3), np.uint8), metadata={"title": "t"})
    da = to_xarray(im)
    np.testing.assert_array_equal(da.x.values, [0, 1, 2])
    np.testing.assert_array_equal(da.y.values, [0, 1])
    assert da.x.attrs == {"units": "px"} and "mask" not in da.coords
    assert da.name == "t" and da.dtype == np.uint8


def test_to_xarray_selection_by_physical_coordinate(image, xr):
    da = to_xarray(image)
    # pixel (x=5, y=4) sits at x = 0.7 + 0.5, y = -2.0 + 1.2
    assert float(da.sel(x=1.2, y=-0.8, method="nearest")) == float(image.data[4, 5])


def test_to_xarray_mask_gives_nan_with_where(image, xr):
    da = to_xarray(image)
    filled = da.where(~da.mask).values
    np.testing.assert_array_equal(np.isnan(filled), np.ma.getmaskarray(image))


def test_to_xarray_accepts_imagefile_and_plain_array(image, xr):
    xr.testing.assert_identical(to_xarray(ImageFile(image)), to_xarray(image))
    plain = np.ones((3, 4))
    da = to_xarray(plain)
    assert da.dims == ("y", "x") and da.attrs == {} and np.shares_memory(da.values, plain)


@pytest.mark.parametrize("bad", ["scan.tif", [[1, 2]], 3.0])
def test_to_xarray_rejects_what_is_not_an_image(bad, xr):
    with pytest.raises(TypeError, match="image: an ImageArray"):
        to_xarray(bad)


def test_to_xarray_rejects_4d(xr):
    with pytest.raises(ValueError, match=r"image: .*not shape \(2, 2, 2, 2\)"):
        to_xarray(np.zeros((2, 2, 2, 2)))


# ---------------------------------------------------------------- from_xarray: round trips
def test_xarray_round_trip_image(image, xr):
    back = from_xarray(to_xarray(image))
    assert_same_image(back, image)
    assert back.filename == image.filename
    assert np.shares_memory(back.data, image.data)


def test_xarray_round_trip_imagefile_class(image, xr):
    back = from_xarray(to_xarray(image), cls=ImageFile)
    assert isinstance(back, ImageFile)
    assert back == ImageFile(image)


def test_xarray_serialisable_round_trip_through_netcdf(image, tmp_path, xr):
    pytest.importorskip("scipy.io")
    da = to_xarray(image, serialisable=True)
    assert set(da.attrs) == {"stonerimg_metadata"}
    assert Metadata.from_json(da.attrs["stonerimg_metadata"]) == image.metadata
    path = tmp_path / "image.nc"
    da.to_netcdf(path, engine="scipy")
    with xr.open_dataarray(path, engine="scipy") as reread:
        back = from_xarray(reread)
    np.testing.assert_array_equal(back.data, image.data)
    np.testing.assert_array_equal(np.ma.getmaskarray(back), np.ma.getmaskarray(image))
    assert back.metadata == image.metadata
    assert back.calibration == image.calibration


def test_xarray_default_attrs_are_not_netcdf_safe(image, tmp_path, xr):
    # which is why serialisable=True exists
    with pytest.raises((TypeError, ValueError)):
        to_xarray(image).to_netcdf(tmp_path / "x.nc", engine="scipy")


def test_xarray_attrs_added_later_join_the_json(image, xr):
    da = to_xarray(image, serialisable=True)
    da.attrs["operator"] = "me"
    back = from_xarray(da)
    assert back["operator"] == "me"
    assert back.metadata == {**image.metadata, "operator": "me"}


def test_xarray_crop_moves_the_calibration(image, xr):
    da = to_xarray(image).isel(x=slice(5, 25), y=slice(2, 12))
    back = from_xarray(da)
    assert back.calibration.x.scale == 0.1 and back.calibration.y.scale == 0.3  # kept exactly
    assert back.calibration.x.offset == pytest.approx(0.7 + 5 * 0.1)
    assert back.calibration.y.offset == pytest.approx(-2.0 + 2 * 0.3)
    np.testing.assert_array_equal(back.data, image.data[2:12, 5:25])
    np.testing.assert_array_equal(np.ma.getmaskarray(back), np.ma.getmaskarray(image)[2:12, 5:25])


def test_xarray_every_other_pixel_doubles_the_scale(image, xr):
    back = from_xarray(to_xarray(image).isel(x=slice(None, None, 2)))
    assert back.calibration.x.scale == pytest.approx(0.2)
    assert back.calibration.y == image.calibration.y


def test_xarray_renamed_dataarray_sets_the_title(image, xr):
    back = from_xarray(to_xarray(image).rename("renamed"))
    assert back.title == "renamed" and back["title"] == "renamed"


# ---------------------------------------------------------------- from_xarray: foreign DataArrays
def test_from_foreign_dataarray_with_even_coordinates(xr):
    data = np.random.default_rng(1).random((4, 5))
    da = xr.DataArray(
        data,
        dims=("y", "x"),
        coords={"x": ("x", np.linspace(-1.0, 1.0, 5), {"units": "mm"}), "y": [3.0, 2.5, 2.0, 1.5]},
        attrs={"long_name": "intensity", "exposure": np.float32(0.5)},
        name="counts",
    )
    im = from_xarray(da)
    np.testing.assert_array_equal(im.data, data)
    assert im.calibration.x == (0.5, -1.0, "mm")
    assert im.calibration.y == (-0.5, 3.0, "px")  # y falls: a negative scale; no units given
    assert im["long_name"] == "intensity" and im["exposure"] == np.float32(0.5)
    assert im.title == "counts"
    assert not np.ma.getmaskarray(im).any()


def test_from_foreign_dataarray_transposes_x_first_dims(xr):
    data = np.arange(12.0).reshape(3, 4)  # dims (x, y): 3 columns, 4 rows
    da = xr.DataArray(data, dims=("x", "y"), coords={"x": [0.0, 2.0, 4.0]})
    im = from_xarray(da)
    assert im.shape == (4, 3)
    np.testing.assert_array_equal(im.data, data.T)
    assert im.calibration.x.scale == 2.0


def test_from_foreign_dataarray_with_other_dim_names_is_positional(xr):
    da = xr.DataArray(np.zeros((2, 3)), dims=("row", "col"), coords={"col": [5.0, 6.0, 7.0]})
    im = from_xarray(da)
    assert im.calibration.x[:2] == (1.0, 5.0) and im.calibration.y == (1.0, 0.0, "px")


def test_from_foreign_dataarray_uneven_coordinates_warn_and_are_kept(xr):
    x = np.array([0.0, 1.0, 3.0, 7.0])
    da = xr.DataArray(np.zeros((2, 4)), dims=("y", "x"), coords={"x": ("x", x, {"units": "s"})})
    with pytest.warns(UserWarning, match=r"'x' coordinate .* not evenly spaced.*coordinates\.x"):
        im = from_xarray(da)
    np.testing.assert_array_equal(im["coordinates.x"], x)
    assert "calibration.x.scale" not in im.metadata and im.calibration.x == (1.0, 0.0, "s")


def test_from_foreign_dataarray_unused_coordinates_warn(xr):
    da = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"lat": (("y", "x"), np.ones((2, 3)))})
    with pytest.warns(UserWarning, match=r"\['lat'\].*left out"):
        from_xarray(da)


def test_from_foreign_dataarray_scalar_coordinates_become_metadata(xr):
    cube = xr.DataArray(np.zeros((3, 2, 2)), dims=("energy", "y", "x"), coords={"energy": [700.0, 705.0, 720.0]})
    im = from_xarray(cube.isel(energy=1))
    assert im["energy"] == 705.0


def test_masks_are_copied_both_ways(image, xr, hs):
    da = to_xarray(image)
    signal = to_hyperspy(image)
    image[0, 0] = np.ma.masked
    assert not da.mask.values[0, 0] and not signal.metadata.stonerimg.mask[0, 0]
    for back in (from_xarray(da), from_hyperspy(signal)):
        back[1, 1] = np.ma.masked
        back.mask[2, 2] = True
    assert not da.mask.values[1, 1] and not da.mask.values[2, 2]
    assert not signal.metadata.stonerimg.mask[1, 1] and not signal.metadata.stonerimg.mask[2, 2]


def test_from_xarray_shares_memory_with_numpy_backed_data(xr):
    data = np.zeros((3, 4))
    im = from_xarray(xr.DataArray(data, dims=("y", "x")))
    im[0, 0] = 5
    assert data[0, 0] == 5


def test_from_xarray_names_unreadable_stored_metadata(xr):
    da = xr.DataArray(np.zeros((2, 2)), dims=("y", "x"), attrs={"stonerimg_metadata": "{not json"}, name="broken")
    with pytest.raises(ValueError, match="DataArray 'broken': its stored metadata cannot be read"):
        from_xarray(da)


def test_from_xarray_rejects_bad_input(xr):
    with pytest.raises(TypeError, match="data_array: an xarray.DataArray"):
        from_xarray(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="data_array: a 2-D"):
        from_xarray(xr.DataArray(np.zeros(3)))
    with pytest.raises(ValueError, match="cls: an ImageStack needs a 3-D"):
        from_xarray(xr.DataArray(np.zeros((2, 2))), cls=ImageStack)
    with pytest.raises(TypeError, match="cls: must be"):
        from_xarray(xr.DataArray(np.zeros((2, 2))), cls=dict)


# ---------------------------------------------------------------- stacks and xarray
def test_stack_to_xarray_layout(stack, xr):
    da = to_xarray(stack)
    assert da.dims == ("frame", "y", "x") and da.shape == stack.shape
    np.testing.assert_array_equal(da.frame.values, 2.0 * np.arange(4))
    assert da.frame.attrs["units"] == "nm"
    np.testing.assert_array_equal(da.x.values, 1.0 + 0.5 * np.arange(8))
    np.testing.assert_array_equal(da.field.values, [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(da.label.values, ["f0", "f1", "f2", "f3"])
    assert "extra" not in da.coords  # a list per frame: only in frame_metadata
    assert da.frame_metadata.values[2] == stack.frame_metadata[2]
    assert dict(da.attrs) == dict(stack.metadata)
    np.testing.assert_array_equal(da.mask.values, np.ma.getmaskarray(stack.image))
    assert np.shares_memory(da.values, stack.data)


def test_stack_xarray_round_trip(stack, xr):
    back = from_xarray(to_xarray(stack))
    assert isinstance(back, ImageStack)
    assert back == stack
    assert back.filenames == stack.filenames


def test_stack_xarray_serialisable_round_trip_through_netcdf(stack, tmp_path, xr):
    da = to_xarray(stack, serialisable=True)
    path = tmp_path / "stack.nc"
    da.to_netcdf(path, engine="scipy")
    with xr.open_dataarray(path, engine="scipy") as reread:
        back = from_xarray(reread)
    assert back == stack


@pytest.mark.parametrize("serialisable", [False, True])
def test_one_frame_of_a_stack_dataarray_has_the_frame_metadata(stack, serialisable, xr):
    da = to_xarray(stack, serialisable=serialisable)
    for i in range(len(stack)):
        one = from_xarray(da.isel(frame=i))
        assert isinstance(one, ImageArray) and one.ndim == 2
        assert one.metadata == stack.merged_metadata(i)
        np.testing.assert_array_equal(one.data, stack.data[i])


def test_selected_frames_keep_their_records(stack, xr):
    back = from_xarray(to_xarray(stack).isel(frame=[3, 1]))
    assert back.frame_metadata == (stack.frame_metadata[3], stack.frame_metadata[1])
    np.testing.assert_array_equal(back.data, stack.data[[3, 1]])
    # frame 3 then 1: the frame coordinate is no longer evenly spaced from 0, but the z scale stays
    assert back.metadata["calibration.z.scale"] == pytest.approx(-4.0)


def test_foreign_3d_dataarray_frame_coordinates_become_records(xr):
    fields = np.array([-50.0, 0.0, 50.0, 0.0])
    da = xr.DataArray(
        np.zeros((4, 2, 3)),
        dims=("field", "y", "x"),
        coords={"field": fields, "temperature": ("field", [4, 4, 5, 5])},
    )
    st = from_xarray(da)
    assert isinstance(st, ImageStack) and st.shape == (4, 2, 3)
    np.testing.assert_array_equal(st.fields, fields)
    assert [r["temperature"] for r in st.frame_metadata] == [4, 4, 5, 5]
    assert not any(k.startswith("calibration.z") for k in st.metadata)


def test_foreign_z_dataarray_gives_z_calibration(xr):
    da = xr.DataArray(np.zeros((3, 2, 2)), dims=("z", "y", "x"), coords={"z": ("z", [1.0, 1.5, 2.0], {"units": "mm"})})
    st = from_xarray(da)
    assert (st.metadata["calibration.z.scale"], st.metadata["calibration.z.offset"]) == (0.5, 1.0)
    assert st.metadata["calibration.z.units"] == "mm"


def test_stack_dataarray_as_imagearray_warns_that_records_go(stack, xr):
    with pytest.warns(UserWarning, match="per-frame metadata .* dropped"):
        flat = from_xarray(to_xarray(stack), cls=ImageArray)
    assert flat.shape == stack.shape and flat.metadata == stack.metadata


# ---------------------------------------------------------------- HyperSpy
def test_to_hyperspy_axes_follow_hyperspy_order(hs):
    im = ImageArray(np.arange(2000.0).reshape(20, 100)).set_calibration((0.25, 2.0), "nm", offset=(5.0, -1.0))
    signal = to_hyperspy(im)
    assert isinstance(signal, hs.signals.Signal2D)
    assert signal.axes_manager.signal_shape == (100, 20)
    assert signal.axes_manager.navigation_dimension == 0
    x, y = signal.axes_manager.signal_axes
    assert (x.name, x.size, x.scale, x.offset, x.units) == ("x", 100, 0.25, 5.0, "nm")
    assert (y.name, y.size, y.scale, y.offset, y.units) == ("y", 20, 2.0, -1.0, "nm")
    # HyperSpy's own indexing: isig[x, y] is pixel (row y, column x)
    assert signal.isig[37, 11].data.item() == im.data[11, 37]
    # and by physical position: x = 5 + 0.25 * 37, y = -1 + 2 * 11
    assert signal.isig[5.0 + 0.25 * 37, -1.0 + 2.0 * 11].data.item() == im.data[11, 37]
    assert np.shares_memory(signal.data, im.data)


def test_to_hyperspy_matches_a_signal_built_by_hand(image, hs):
    expected = hs.signals.Signal2D(
        np.asarray(image.data),
        axes=[
            {"name": "y", "size": 20, "scale": 0.3, "offset": -2.0, "units": "nm"},
            {"name": "x", "size": 30, "scale": 0.1, "offset": 0.7, "units": "nm"},
        ],
    )
    signal = to_hyperspy(image)
    for got, want in zip(signal.axes_manager.signal_axes, expected.axes_manager.signal_axes, strict=True):
        assert (got.name, got.size, got.scale, got.offset, got.units) == (
            want.name,
            want.size,
            want.scale,
            want.offset,
            want.units,
        )
    assert signal.metadata.General.title == image.title == "scan.tif"
    assert signal.metadata.General.original_filename == "scan.tif"
    np.testing.assert_array_equal(signal.metadata.stonerimg.mask, np.ma.getmaskarray(image))
    tree = signal.original_metadata.as_dictionary()
    assert tree["calibration"]["x"]["scale"] == 0.1
    assert tree["a"]["value_"] == "a value and a prefix" and tree["a"]["b"]["value_"] == 1
    assert tree["a"]["b"]["c"] == 2.5
    assert tree["sample"] == "Py"


def test_hyperspy_round_trip_image(image, hs):
    back = from_hyperspy(to_hyperspy(image))
    assert_same_image(back, image)
    assert back.filename == image.filename
    assert np.shares_memory(back.data, image.data)


def test_hyperspy_round_trip_through_hspy_file(image, tmp_path, hs):
    pytest.importorskip("h5py")
    path = tmp_path / "image.hspy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HyperSpy logs the items an .hspy file cannot hold (datetimes)
        to_hyperspy(image).save(path)
        reread = hs.load(path)
    # the browsable tree lost types (a tuple became strings); the stored JSON did not
    assert reread.original_metadata.as_dictionary()["t"] != (1, "two")
    back = from_hyperspy(reread)
    np.testing.assert_array_equal(back.data, image.data)
    np.testing.assert_array_equal(np.ma.getmaskarray(back), np.ma.getmaskarray(image))
    assert back.metadata == image.metadata


def test_hyperspy_round_trip_complex(hs):
    im = ImageArray(np.array([[1 + 2j, 3 - 1j], [0, 1j]]), metadata={"kind": "fft"})
    signal = to_hyperspy(im)
    assert isinstance(signal, hs.signals.ComplexSignal2D)
    assert_same_image(from_hyperspy(signal), im)


def test_hyperspy_items_added_to_original_metadata_are_read(image, hs):
    signal = to_hyperspy(image)
    signal.original_metadata.set_item("added.in.hyperspy", 42)
    back = from_hyperspy(signal)
    assert back["added.in.hyperspy"] == 42
    assert back.metadata == {**image.metadata, "added.in.hyperspy": 42}


def test_hyperspy_crop_moves_calibration_and_drops_the_stale_mask(image, hs):
    signal = to_hyperspy(image).isig[5:25, 2:12]
    with pytest.warns(UserWarning, match="mask stored .* dropped"):
        back = from_hyperspy(signal)
    np.testing.assert_array_equal(back.data, image.data[2:12, 5:25])
    assert back.calibration.x.offset == pytest.approx(0.7 + 0.5)
    assert back.calibration.y.offset == pytest.approx(-2.0 + 0.6)
    assert back.calibration.x.scale == 0.1


def test_hyperspy_retitled_signal_sets_the_title(image, hs):
    signal = to_hyperspy(image)
    signal.metadata.General.title = "new title"
    assert from_hyperspy(signal).title == "new title"


def test_from_foreign_signal_built_by_hand(hs):
    data = np.random.default_rng(2).random((5, 7)).astype(np.float32)
    signal = hs.signals.Signal2D(
        data,
        axes=[
            {"name": "height", "size": 5, "scale": 1.5, "offset": 3.0, "units": "µm"},
            {"name": "width", "size": 7, "scale": 0.5, "offset": -1.0, "units": "µm"},
        ],
        metadata={"General": {"title": "made in HyperSpy"}},
        original_metadata={"Detector": {"gain": 4, "mode": "fast"}},
    )
    im = from_hyperspy(signal)
    np.testing.assert_array_equal(im.data, data)
    assert im.dtype == np.float32
    assert im.calibration.x == (0.5, -1.0, "µm") and im.calibration.y == (1.5, 3.0, "µm")
    assert im["Detector.gain"] == 4 and im["Detector.mode"] == "fast"
    assert im["hyperspy.General.title"] == "made in HyperSpy" and im.title == "made in HyperSpy"


def test_from_foreign_signal_without_units_keeps_pixels(hs):
    im = from_hyperspy(hs.signals.Signal2D(np.zeros((2, 3))))
    assert im.calibration == ((1.0, 0.0, "px"), (1.0, 0.0, "px"))
    assert not any(k.startswith("calibration.") for k in im.metadata)


def test_from_signal_with_a_non_uniform_axis_warns(hs):
    y = np.array([0.0, 1.0, 4.0])
    signal = hs.signals.Signal2D(np.zeros((3, 2)), axes=[{"axis": y, "name": "y"}, {"size": 2, "name": "x"}])
    with pytest.warns(UserWarning, match="y axis .* not evenly spaced"):
        im = from_hyperspy(signal)
    np.testing.assert_array_equal(im["coordinates.y"], y)


def test_from_lazy_signal_computes(hs):
    data = np.arange(12.0).reshape(3, 4)
    im = from_hyperspy(hs.signals.Signal2D(data).as_lazy())
    assert type(im.data) is np.ndarray
    np.testing.assert_array_equal(im.data, data)


def test_from_hyperspy_load_matches_our_dm_loader(dm_dir, hs):
    path = dm_dir / "test_STEM_image.dm3"
    ours = load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HyperSpy's own deprecation notices
        theirs = from_hyperspy(hs.load(path))
    np.testing.assert_array_equal(theirs.data, ours.data)
    assert theirs.dtype == ours.dtype
    assert theirs.calibration == ours.calibration
    assert theirs.title == ours.title and theirs.filename == str(path)
    # the same DigitalMicrograph tag read by two readers: RosettaSciIO names list items TagGroupN and drops
    # the thumbnail (our ImageList.0), so its TagGroup0 is our ImageList.1
    tag = "ImageTags.Microscope Info.Voltage"
    assert theirs[f"ImageList.TagGroup0.{tag}"] == ours[f"ImageList.1.{tag}"]


def test_stack_to_hyperspy_has_one_navigation_axis(stack, hs):
    signal = to_hyperspy(stack)
    assert signal.axes_manager.navigation_shape == (4,)
    assert signal.axes_manager.signal_shape == (8, 6)
    nav = signal.axes_manager.navigation_axes[0]
    assert (nav.name, nav.scale, nav.offset, nav.units) == ("frame", 2.0, 0.0, "nm")
    np.testing.assert_array_equal(signal.inav[2].data, stack.data[2])


def test_stack_hyperspy_round_trip(stack, hs):
    back = from_hyperspy(to_hyperspy(stack))
    assert isinstance(back, ImageStack)
    assert back == stack


def test_stack_hyperspy_frames_selected_drop_records(stack, hs):
    signal = to_hyperspy(stack).inav[1:3]
    with pytest.warns(UserWarning) as caught:
        back = from_hyperspy(signal)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "mask stored with the signal has shape (4, 6, 8), not (2, 6, 8)" in messages[0]
    assert "4 frame records for 2 frames: the records are dropped" in messages[1]
    assert back.frame_metadata == (Metadata(),) * 2 and np.ma.getmask(back.image) is np.ma.nomask
    assert back.shape == (2, 6, 8)
    assert back.metadata["calibration.z.offset"] == pytest.approx(2.0)


def test_from_hyperspy_rejects_bad_input(hs):
    with pytest.raises(TypeError, match="signal: a HyperSpy signal"):
        from_hyperspy(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"signal: 2-D .* not shape \(5,\)"):
        from_hyperspy(hs.signals.Signal1D(np.zeros(5)))


def test_from_hyperspy_into_imagefile(image, hs):
    doc = from_hyperspy(to_hyperspy(image), cls=ImageFile)
    assert isinstance(doc, ImageFile) and doc == ImageFile(image)


# ---------------------------------------------------------------- import cost
def test_interop_imports_neither_xarray_nor_hyperspy():
    code = (
        "import sys, stonerimg, stonerimg.interop\n"
        "print(' '.join(m for m in ('xarray', 'hyperspy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("hyperspy.signals", lambda: to_hyperspy(np.zeros((2, 2)))),
        ("hyperspy.signal", lambda: from_hyperspy(object())),
        ("xarray", lambda: to_xarray(np.zeros((2, 2)))),
        ("xarray", lambda: from_xarray(object())),
    ],
)
def test_missing_optional_dependency_names_what_to_install(monkeypatch, module, call):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf"needs {module.split('.')[0]}, which is not installed: pip install"):
        call()


def test_uncalibrated_stack_frames_have_no_units_in_hyperspy(hs):
    signal = to_hyperspy(ImageStack(np.zeros((3, 2, 2))))
    nav = signal.axes_manager.navigation_axes[0]
    assert (nav.name, nav.scale, nav.offset) == ("frame", 1.0, 0.0)
    assert not isinstance(nav.units, str) or nav.units == "<undefined>"
    back = from_hyperspy(signal)
    assert not any(k.startswith("calibration.z") for k in back.metadata)


# ---------------------------------------------------------------- any metadata survives
def _metadata_strategy():
    from hypothesis import strategies as st

    keys = st.text(alphabet="ab.µ _(x", min_size=0, max_size=6)
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.lists(st.integers(-5, 5), max_size=3),
        st.tuples(st.integers(), st.text(max_size=3)),
        st.dictionaries(st.text(alphabet="kq.", max_size=3), st.integers(), max_size=2),
    )
    return st.dictionaries(keys, leaves, max_size=8)


@pytest.mark.parametrize("route", ["xarray", "xarray-serialisable", "hyperspy"])
def test_any_metadata_round_trips(route, request):
    hypothesis = pytest.importorskip("hypothesis")
    convert = {
        "xarray": lambda im: from_xarray(to_xarray(im)),
        "xarray-serialisable": lambda im: from_xarray(to_xarray(im, serialisable=True)),
        "hyperspy": lambda im: from_hyperspy(to_hyperspy(im)),
    }[route]
    request.getfixturevalue("hs" if route == "hyperspy" else "xr")

    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(_metadata_strategy())
    def check(items):
        im = ImageArray(np.arange(6.0).reshape(2, 3), metadata=items)
        back = convert(im)
        assert back.metadata == im.metadata

    check()


def test_methods_call_the_interop_functions():
    image = ImageArray(np.arange(6.0).reshape(2, 3), metadata={"sample": "Py"})
    image.set_calibration(0.5, "nm")
    document = ImageFile(image)
    for source in (image, document):
        data_array = source.to_xarray()
        assert data_array.identical(to_xarray(source))
        assert np.shares_memory(data_array.values, image.data)
    back = ImageFile.from_xarray(image.to_xarray())
    assert isinstance(back, ImageFile) and back.metadata == image.metadata
    assert isinstance(ImageArray.from_xarray(image.to_xarray()), ImageArray)
    assert from_xarray(image.to_xarray()).metadata == image.metadata
    signal = document.to_hyperspy()
    assert signal.axes_manager.signal_shape == (3, 2)
    again = ImageArray.from_hyperspy(signal)
    assert again.metadata == image.metadata and np.array_equal(again, image)
