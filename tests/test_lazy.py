"""Disk images: stonerimg.open, load_plane, r vs r+, closing, scratch images, disk stacks, dask.

References are independent of the code under test: numpy.load / numpy.memmap, tifffile and
h5py reading the same files directly, stonerimg.load (the in-memory reader) for metadata and
orientation, and /proc/self (Linux) for what the process still holds open.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

import stonerimg
from stonerimg import FormatError, ImageArray, ImageFile, ImageFolder, ImageStack
from stonerimg.disk import DiskImage, DiskImageStack, open_raw
from stonerimg.formats.stxm import STXMImage


# ------------------------------------------------------------------ helpers
def _frames(n=5, shape=(12, 16), dtype=np.uint16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) * 1000).astype(dtype)


def _memmap_base(array) -> np.memmap | None:
    base = np.ma.getdata(array)
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    return base


def _held(path) -> list[str]:
    """What this process still holds of ``path``: open descriptors and mappings (Linux /proc)."""
    target = os.path.realpath(path)
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                held.append(f"fd {fd}")
        except OSError:
            continue
    with open("/proc/self/maps") as maps:
        held += [line.strip() for line in maps if line.rstrip().endswith(target)]
    return held


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc to list open files")


def _snapshot(path) -> tuple[bytes, int]:
    path = Path(path)
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture
def scratch_dir(tmp_path, monkeypatch):
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(stonerimg.config, "disk_image_dir", str(folder))
    return folder


# ------------------------------------------------------------------ NPY
def test_npy_opens_as_a_memmap_sharing_the_file(tmp_path):
    data = _frames(1)[0]
    path = tmp_path / "a.npy"
    ImageArray(data, metadata={"sample": "Py"}).save(path)
    with stonerimg.open(path) as im:
        assert isinstance(im, ImageFile) and isinstance(im, DiskImage)
        assert im.is_disk_image and im.format == "npy" and im.mode == "r"
        assert _memmap_base(im.image) is not None and np.shares_memory(im.image, im.data)
        assert np.shares_memory(np.asarray(im.image), im.data)
        np.testing.assert_array_equal(im.data, np.load(path))
        assert im.metadata == stonerimg.load(path).metadata
        assert im.filename == str(path) and im.geometry == (16, 12)


def test_npy_3d_opens_as_a_disk_stack_with_frames_as_views(tmp_path):
    data = _frames(4)
    path = tmp_path / "s.npy"
    np.save(path, data)
    with stonerimg.open(path) as stack:
        assert isinstance(stack, DiskImageStack) and stack.is_disk_image
        assert stack.shape == data.shape and len(stack) == 4 and stack.dtype == data.dtype
        assert np.shares_memory(stack[2].data, stack.data)
        np.testing.assert_array_equal(stack[2].data, data[2])
        np.testing.assert_allclose(stack.mean().data, data.mean(axis=0))


def test_npy_mask_from_sidecar_comes_back(tmp_path):
    data = _frames(1)[0].astype(float)
    mask = np.zeros(data.shape, bool)
    mask[2:4, 5] = True
    path = tmp_path / "m.npy"
    ImageArray(data, mask=mask).save(path)
    with stonerimg.open(path) as im:
        np.testing.assert_array_equal(np.ma.getmaskarray(im.image), mask)


# ------------------------------------------------------------------ TIFF
def test_stack_tiff_maps_pages_and_keeps_frame_metadata(tmp_path):
    data = _frames(5)
    path = tmp_path / "s.tif"
    stack = ImageStack(data, metadata={"sample": "Py"}, frame_metadata=[{"field": float(i)} for i in range(5)])
    stack.to_tiff(path)
    with stonerimg.open(path) as opened:
        assert opened.is_disk_image and _memmap_base(opened.data) is not None
        with tifffile.TiffFile(path) as tif:
            for i in range(5):
                np.testing.assert_array_equal(opened[i].data, tif.pages[i].asarray())
        assert opened.metadata["sample"] == "Py"
        assert [opened.merged_metadata(i)["field"] for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert opened == ImageStack.from_tiff(path)


def test_bigtiff_and_plain_multipage_tiff_are_mapped(tmp_path):
    data = _frames(3, dtype=np.float32)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, bigtiff=True, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
    with stonerimg.open(path) as stack:
        assert _memmap_base(stack.data) is not None
        np.testing.assert_array_equal(stack.data, tifffile.imread(path))


def test_single_tiff_image_keeps_our_metadata(tmp_path):
    data = _frames(1)[0]
    path = tmp_path / "one.tif"
    ImageArray(data, metadata={"sample": "Py", "energy": 707.5}).save(path)
    with stonerimg.open(path) as im:
        assert im.shape == data.shape and _memmap_base(im.image) is not None
        assert im.metadata == stonerimg.load(path).metadata
        np.testing.assert_array_equal(im.data, tifffile.imread(path))


def test_foreign_tiff_gets_the_tag_metadata_load_gives(tmp_path):
    path = tmp_path / "foreign.tif"
    tifffile.imwrite(path, _frames(1)[0], description="hello", resolution=(2.0, 4.0), resolutionunit=3)
    with stonerimg.open(path) as im:
        assert im.metadata == stonerimg.load(path).metadata


def test_compressed_tiff_is_read_plane_by_plane(tmp_path):
    data = _frames(4)
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    with stonerimg.open(path) as stack:
        assert stack.is_disk_image and _memmap_base(stack[0].data) is None
        with tifffile.TiffFile(path) as tif:
            np.testing.assert_array_equal(stack[3].data, tif.pages[3].asarray())
        plane = stack.load_plane(2, offset=(3, 1), stride=(2, 3))
        np.testing.assert_array_equal(plane.data, data[2, 1::3, 3::2])
        np.testing.assert_allclose(stack.mean().data, data.mean(axis=0))
    with pytest.raises(FormatError, match="mode='r\\+'"):
        stonerimg.open(path, mode="r+")


# ------------------------------------------------------------------ HDF5 / NeXus / STXM
def _hdf5(path, data, **options):
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        group = entry.create_group("data")
        group.attrs["NX_class"] = "NXdata"
        group.attrs["signal"] = "counts"
        group.create_dataset("counts", data=data, **options)


@pytest.mark.parametrize("options", [{}, {"chunks": (1, 4, 8), "compression": "gzip"}])
def test_hdf5_contiguous_is_mapped_chunked_read_by_hyperslab(tmp_path, options):
    data = _frames(3, dtype=np.int32)
    path = tmp_path / "d.nxs"
    _hdf5(path, data, **options)
    with stonerimg.open(path) as stack:
        assert stack.format == "nexus" and stack.is_disk_image
        assert (_memmap_base(stack[0].data) is not None) == (not options)
        with h5py.File(path, "r") as f:
            expected = f["entry/data/counts"][1, 2:11:3, 1:16:4]
        plane = stack.load_plane(1, size=(4, 3), offset=(1, 2), stride=(4, 3))
        np.testing.assert_array_equal(plane.data, expected)
        assert stack.metadata["hdf5.signal"] == "/entry/data/counts"


def _stxm_file(path, chunked=False):
    rng = np.random.default_rng(3)
    image = STXMImage(rng.random((6, 9)), metadata={"polarization": 1.0})
    image.set_calibration(0.1, "µm")
    stonerimg.save(image, path, fmt="stxm")
    if chunked:  # rewrite the pixels chunked and compressed, as some instruments store them
        with h5py.File(path, "r+") as f:
            pixels = f["entry1/counter0/data"][()]
            del f["entry1/counter0/data"]
            f["entry1/counter0"].create_dataset("data", data=pixels, chunks=(2, 3), compression="gzip")
    return path


@pytest.mark.parametrize("chunked", [False, True])
def test_stxm_disk_view_has_the_orientation_of_load(tmp_path, chunked):
    path = _stxm_file(tmp_path / "x.hdf5", chunked)
    loaded = stonerimg.load(path)
    with stonerimg.open(path) as im:
        assert isinstance(im, STXMImage) and im.is_disk_image and im.format == "stxm"
        if not chunked:  # mapped at the dataset's offset, rows reversed by a negative stride: no copy
            assert _memmap_base(im.image) is not None and im.data.strides[0] < 0
        np.testing.assert_array_equal(im.data, loaded.data)
        assert im.metadata == loaded.metadata
        with h5py.File(path, "r") as f:
            stored = f["entry1/counter0/data"][()]
        np.testing.assert_array_equal(im.load_plane(offset=(1, 1), stride=(2, 2)).data, stored[::-1][1::2, 1::2])
        np.testing.assert_array_equal(
            im.load_plane(offset=(2, 0), size=(3, 4), stride=(1, 1)).data, loaded.data[0:4, 2:5]
        )


@pytest.mark.parametrize("name", ["Sample_Image_2017-10-15_100.hdf5", "Pollux-STXM Image.hdf5"])
def test_stxm_sample_file_opens_like_it_loads(stxm_dir, name):
    path = stxm_dir / name
    loaded = stonerimg.load(path)
    with stonerimg.open(path) as im:
        np.testing.assert_array_equal(im.data, loaded.data)
        assert im.calibration == loaded.calibration
        assert im.metadata == loaded.metadata


def test_stxm_saved_mask_comes_back_from_open(tmp_path):
    image = STXMImage(np.arange(12.0).reshape(3, 4), metadata={"polarization": -1.0})
    image.mask = np.arange(12).reshape(3, 4) % 5 == 0
    stonerimg.save(image, tmp_path / "m.hdf5", fmt="stxm")
    loaded = stonerimg.load(tmp_path / "m.hdf5")
    with stonerimg.open(tmp_path / "m.hdf5") as im:
        np.testing.assert_array_equal(np.ma.getmaskarray(im.image), np.ma.getmaskarray(loaded.image))
        assert im.metadata == loaded.metadata


def test_stxm_writes_land_in_the_stored_orientation(tmp_path):
    path = _stxm_file(tmp_path / "w.hdf5", chunked=True)
    with stonerimg.open(path, mode="r+") as im:
        im.write_pixel(42.0, 2, 0)  # row 0 as loaded = the last row stored
    with h5py.File(path, "r") as f:
        assert f["entry1/counter0/data"][-1, 2] == 42.0
    assert stonerimg.load(path).data[0, 2] == 42.0


# ------------------------------------------------------------------ load_plane
def test_load_plane_matches_numpy_slicing_and_scales_the_calibration(tmp_path):
    data = _frames(3, shape=(40, 50))
    path = tmp_path / "p.npy"
    stack = ImageStack(data)
    stack.metadata.update({"calibration.x.scale": 0.5, "calibration.x.units": "nm"})
    np.save(path, data)
    with stonerimg.open(path) as opened:
        plane = opened.load_plane(z=2, size=(5, 4), offset=(3, 7), stride=(8, 8))
        assert type(plane) is ImageArray and _memmap_base(plane) is None
        assert not np.shares_memory(plane, opened.data)
        np.testing.assert_array_equal(plane.data, data[2, 7 : 7 + 4 * 8 : 8, 3 : 3 + 5 * 8 : 8])
        full = opened.load_plane(1)
        np.testing.assert_array_equal(full.data, data[1])
        with pytest.raises(ValueError, match="size"):
            opened.load_plane(size=(10, 1), offset=(0, 0), stride=(8, 8))
        with pytest.raises(ValueError, match="offset"):
            opened.load_plane(offset=(50, 0))
        with pytest.raises(ValueError, match="channel"):
            opened.load_plane(c=1)
        with pytest.raises(IndexError):
            opened.load_plane(z=3)
    plane = stack.load_plane(z=0, offset=(4, 0), stride=(2, 1))  # in memory too
    np.testing.assert_array_equal(plane.data, data[0, :, 4::2])
    assert plane.calibration.x.scale == 1.0 and plane.calibration.x.offset == 2.0


# ------------------------------------------------------------------ r versus r+
def test_read_only_refuses_writes_and_never_changes_the_file(tmp_path):
    path = tmp_path / "r.tif"
    stonerimg.ImageStack(_frames(3)).to_tiff(path)
    before = _snapshot(path)
    with stonerimg.open(path) as stack:
        with pytest.raises(ValueError, match="read-only"):
            stack.write_pixel(1, 0, 0, z=1)
        with pytest.raises(ValueError, match="read-only"):
            stack[0] = np.zeros(stack.frame_shape, stack.dtype)
        with pytest.raises(ValueError, match="read-only"):
            stack.data[0, 0, 0] = 5
        frame = stack[1]
        frame.normalise()  # an image function: a new image in memory, not the file
        assert frame.dtype == np.float64
    path2 = tmp_path / "r.npy"
    np.save(path2, _frames(1)[0])
    before2 = _snapshot(path2)
    with stonerimg.open(path2) as im:
        with pytest.raises(ValueError, match="read-only"):
            im[0:2, 0] = 3
        with pytest.raises(ValueError, match="read-only"):
            im.write_pixel(3, 1, 1)
        im.normalise()
        assert not im.is_disk_image
    assert _snapshot(path) == before and _snapshot(path2) == before2


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".nxs"])
def test_read_write_mode_writes_pixels_and_slices_into_the_file(tmp_path, suffix):
    data = _frames(3)
    path = tmp_path / f"w{suffix}"
    if suffix == ".npy":
        np.save(path, data)
    elif suffix == ".tif":
        ImageStack(data).to_tiff(path)
    else:
        _hdf5(path, data, chunks=(1, 4, 4), compression="gzip")
    with stonerimg.open(path, mode="r+") as stack:
        stack.write_pixel(777, x=3, y=2, z=1)
        stack[2] = np.full(stack.frame_shape, 9, stack.dtype)
        if suffix != ".nxs":
            stack.data[0, 1:3, 4:6] = 55  # slice assignment into the mapping
    expected = data.copy()
    expected[1, 2, 3] = 777
    expected[2] = 9
    if suffix != ".nxs":
        expected[0, 1:3, 4:6] = 55
    if suffix == ".npy":
        reread = np.load(path)
    elif suffix == ".tif":
        reread = tifffile.imread(path)
    else:
        with h5py.File(path, "r") as f:
            reread = f["entry/data/counts"][()]
    np.testing.assert_array_equal(reread, expected)


def test_read_write_single_image_slice_assignment(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.zeros((4, 5), np.float32))
    with stonerimg.open(path, mode="r+") as im:
        im[1, 1:4] = 2.5
        im.write_pixel(-1.0, 4, 3)
    expected = np.zeros((4, 5), np.float32)
    expected[1, 1:4] = 2.5
    expected[3, 4] = -1.0
    np.testing.assert_array_equal(np.load(path), expected)


# ------------------------------------------------------------------ closing
@needs_proc
@pytest.mark.parametrize("suffix", [".npy", ".tif", "z.tif", ".nxs"])
def test_close_releases_every_handle_and_mapping(tmp_path, suffix):
    data = _frames(3)
    path = tmp_path / f"c{suffix}"
    if suffix == ".npy":
        np.save(path, data)
    elif suffix == ".tif":
        ImageStack(data).to_tiff(path)
    elif suffix == "z.tif":
        tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    else:
        _hdf5(path, data, chunks=(1, 4, 4))
    stack = stonerimg.open(path)
    _ = stack[1].data.sum(), stack.mean(), stack.load_plane(0)
    assert _held(path)
    stack.close()
    gc.collect()
    assert _held(path) == []
    uses = (lambda: stack.data, lambda: stack[0], lambda: len(stack), stack.mean, lambda: stack.metadata)
    uses += (lambda: stack.frame_metadata, lambda: stack.load_plane(0), lambda: stack.to_dask(), lambda: list(stack))
    for use in uses:
        with pytest.raises(ValueError, match="closed"):
            use()
    renamed = path.with_name("moved" + path.name)
    os.replace(path, renamed)
    os.remove(renamed)


@needs_proc
def test_with_block_closes_on_an_exception(tmp_path):
    path = tmp_path / "e.npy"
    np.save(path, _frames(1)[0])
    with pytest.raises(RuntimeError, match="boom"), stonerimg.open(path) as im:
        assert _held(path)
        raise RuntimeError("boom")
    gc.collect()
    assert im.closed and _held(path) == []
    with pytest.raises(ValueError, match="is closed"):
        im.image  # noqa: B018
    with pytest.raises(ValueError, match="is closed"):
        im.normalise()


# ------------------------------------------------------------------ scratch images
def test_empty_zeros_like_make_scratch_files_in_the_configured_folder(scratch_dir):
    im = stonerimg.zeros((6, 7), np.float32)
    stack = stonerimg.empty((3, 6, 7), np.uint16)
    assert isinstance(im, DiskImage) and im.is_scratch and im.mode == "r+"
    assert isinstance(stack, DiskImageStack) and stack.is_scratch
    assert len(list(scratch_dir.iterdir())) == 2
    assert Path(im.filename).parent == scratch_dir
    np.testing.assert_array_equal(im.data, np.zeros((6, 7), np.float32))
    stack.write_pixel(5, 1, 2, z=2)
    assert stack.data[2, 2, 1] == 5
    copy = stonerimg.like(stack, copy=True)
    np.testing.assert_array_equal(copy.data, stack.data)
    blank = stonerimg.like(im, on_disk=False)
    assert not isinstance(blank, DiskImage) and blank.shape == (6, 7)
    for image in (im, stack, copy):
        image.close()
    assert list(scratch_dir.iterdir()) == []


def test_scratch_file_removed_on_garbage_collection(scratch_dir):
    im = stonerimg.zeros((5, 5))
    path = Path(im.filename)
    assert path.exists()
    del im
    gc.collect()
    assert not path.exists()
    stack = stonerimg.zeros((2, 5, 5))
    assert len(list(scratch_dir.iterdir())) == 1
    del stack
    gc.collect()
    assert list(scratch_dir.iterdir()) == []


def test_scratch_file_removed_at_interpreter_exit_and_env_var_sets_the_folder(tmp_path):
    code = "import stonerimg\nim = stonerimg.zeros((8, 8))\nprint(im.filename, flush=True)\n"
    env = {**os.environ, "STONERIMG_DISK_IMAGE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    made = Path(out.stdout.strip())
    assert made.parent == tmp_path and made.name.startswith("stonerimg-")
    assert not made.exists() and list(tmp_path.iterdir()) == []


def test_save_persists_a_scratch_image_by_renaming(scratch_dir, tmp_path):
    im = stonerimg.zeros((4, 6), np.int16, metadata={"sample": "Py"})
    im[1, 2] = 7
    scratch = Path(im.filename)
    target = tmp_path / "kept.npy"
    im.save(target)
    assert not scratch.exists() and target.exists() and not im.is_scratch
    im[0, 0] = 3  # still the same mapping: now the saved file's
    im.close()
    loaded = stonerimg.load(target)
    expected = np.zeros((4, 6), np.int16)
    expected[1, 2], expected[0, 0] = 7, 3
    np.testing.assert_array_equal(loaded.data, expected)
    assert loaded.metadata["sample"] == "Py" and target.exists()
    stack = stonerimg.zeros((2, 3, 4), np.uint8)
    stack.write_pixel(9, 3, 2, z=1)
    stack.save(tmp_path / "stack.tif")  # not .npy: written through the TIFF writer, scratch kept
    assert stack.is_scratch
    stack.close()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "stack.tif")[1, 2, 3], 9)
    assert list(scratch_dir.iterdir()) == []


def test_save_copies_when_the_target_is_on_another_disk(scratch_dir, tmp_path, monkeypatch):
    import errno

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    im = stonerimg.zeros((3, 3))
    im[1, 1] = 2.0
    monkeypatch.setattr(stonerimg.disk.image, "_move", cross_device)
    im.save(tmp_path / "copy.npy")
    monkeypatch.undo()
    assert im.is_scratch  # still on its scratch file
    np.testing.assert_array_equal(np.load(tmp_path / "copy.npy"), np.asarray(im.data))
    im.close()
    assert (tmp_path / "copy.npy").exists() and list(scratch_dir.iterdir()) == []


def test_disk_image_dir_must_exist(tmp_path, monkeypatch):
    monkeypatch.setattr(stonerimg.config, "disk_image_dir", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="disk_image_dir"):
        stonerimg.empty((2, 2))


# ------------------------------------------------------------------ functions on disk stacks
def test_each_on_a_read_only_stack_moves_results_to_scratch(tmp_path, scratch_dir):
    data = _frames(4)
    path = tmp_path / "e.npy"
    np.save(path, data)
    before = _snapshot(path)
    expected = ImageStack(data.copy()).each.normalise()
    with stonerimg.open(path) as stack:
        assert stack.each.normalise() is stack
        assert stack.is_scratch and stack.dtype == np.float64 and len(list(scratch_dir.iterdir())) == 1
        np.testing.assert_allclose(stack.data, expected.data)
        assert stack.metadata_of(0)["history"] == expected.metadata_of(0)["history"]
        spans = stack.each.span()
        assert isinstance(spans, list) and len(spans) == 4
    assert _snapshot(path) == before and list(scratch_dir.iterdir()) == []


def test_each_on_a_read_write_stack_writes_back_in_place(tmp_path, scratch_dir):
    data = _frames(3, dtype=np.float64)
    path = tmp_path / "f.npy"
    np.save(path, data)
    with stonerimg.open(path, mode="r+") as stack:
        stack.each(lambda frame: frame.image * 2)
        assert not stack.is_scratch and list(scratch_dir.iterdir()) == []
    np.testing.assert_allclose(np.load(path), data * 2)


def test_streamed_reductions_with_small_windows(tmp_path, monkeypatch):
    monkeypatch.setattr(stonerimg.config, "block_bytes", 2 * 12 * 16 * 2)  # two frames per window
    monkeypatch.setattr(stonerimg.config, "max_map_bytes", 0)  # never map the whole file
    data = _frames(7)
    path = tmp_path / "w.npy"
    np.save(path, data)
    with stonerimg.open(path) as stack:
        np.testing.assert_allclose(stack.mean().data, data.mean(axis=0))
        weights = np.arange(1.0, 8.0)
        np.testing.assert_allclose(stack.average(weights).data, np.average(data, axis=0, weights=weights))
        np.testing.assert_array_equal(stack.load_plane(3, offset=(1, 2), stride=(3, 2)).data, data[3, 2::2, 1::3])
        np.testing.assert_array_equal(stack.load_plane(4).data, data[4])
        assert stack.__dict__["_backend"]._full is None
        part = stack[2:5]
        assert isinstance(part, DiskImageStack) and len(part) == 3
        np.testing.assert_allclose(part.mean().data, data[2:5].mean(axis=0))
        dask_sum = stack.to_dask().sum(axis=0).compute()
        np.testing.assert_array_equal(dask_sum, data.sum(axis=0, dtype=np.uint64))
    with pytest.raises(ValueError, match="closed"):
        part.mean()


def test_drift_corrected_mean_equals_correcting_a_copy(tmp_path):
    from scipy import ndimage

    yy, xx = np.mgrid[:48, :64]
    ref = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 10.0) for x, y in [(20, 15), (40, 30), (30, 22)])
    frames = np.array([ndimage.shift(ref, shift) for shift in [(0, 0), (1.5, -2.0), (-1.0, 0.5), (2.0, 1.0)]])
    path = tmp_path / "d.npy"
    np.save(path, frames)
    box = (8, 56, 6, 42)
    expected = ImageStack(frames.copy()).crop_stack(box).correct_drifts(0, upsample_factor=20).mean()
    with stonerimg.open(path) as stack:
        result = stack.drift_corrected_mean(box=box, upsample_factor=20)
    np.testing.assert_allclose(result.data, expected.data, atol=1e-10)
    np.testing.assert_allclose(result.metadata["drifts"][1], (-2.0, 1.5), atol=0.1)


def test_to_dask_reads_the_file_lazily(tmp_path):
    data = _frames(4)
    path = tmp_path / "k.npy"
    np.save(path, data)
    with stonerimg.open(path, mode="r+") as stack:
        lazy = stack.to_dask(chunks=(2, -1, -1))
        assert lazy.chunks[0] == (2, 2)
        stack.write_pixel(999, 0, 0, z=3)  # after to_dask: seen because nothing was copied
        np.testing.assert_array_equal(lazy[3].compute()[0, 0], 999)
    in_memory = ImageStack(data)
    np.testing.assert_array_equal(in_memory.to_dask().compute(), data)


# ------------------------------------------------------------------ folders
def test_folder_as_stack_on_disk_streams_frames(tmp_path, scratch_dir):
    data = _frames(12, shape=(64, 64), dtype=np.float64)
    for i, frame in enumerate(data):
        ImageArray(frame, metadata={"index": i}).save(tmp_path / f"f{i:02d}.npy")
    folder = ImageFolder(tmp_path, pattern="*.npy")
    in_memory = folder.as_stack()
    tracemalloc.start()
    stack = folder.as_stack(on_disk=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * data[0].nbytes < data.nbytes  # a frame or two at a time, never the whole stack
    assert isinstance(stack, DiskImageStack) and stack.is_scratch
    np.testing.assert_array_equal(stack.data, data)
    assert [stack.merged_metadata(i)["index"] for i in range(12)] == list(range(12))
    assert stack == in_memory
    stack.close()
    assert list(scratch_dir.iterdir()) == []


def test_folder_as_stack_on_disk_refuses_a_dtype_that_does_not_fit(tmp_path, scratch_dir):
    np.save(tmp_path / "a.npy", np.zeros((4, 4), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((4, 4), np.float64))
    with pytest.raises(ValueError, match="frame 1"):
        ImageFolder(tmp_path, pattern="*.npy").as_stack(on_disk=True)
    gc.collect()
    assert list(scratch_dir.iterdir()) == []


# ------------------------------------------------------------------ open_raw and errors
def test_open_raw_maps_pixels_at_an_offset(tmp_path):
    data = _frames(3, dtype=">f4")
    path = tmp_path / "raw.bin"
    path.write_bytes(b"HEADER" * 10 + data.tobytes())
    with open_raw(path, offset=60, dtype=">f4", shape=(3, 12, 16), metadata={"a": 1}) as stack:
        np.testing.assert_array_equal(stack.data, data)
        assert stack.metadata["a"] == 1
    with open_raw(path, offset=60, dtype=">f4", shape=(12, 16), cls=STXMImage) as im:
        assert isinstance(im, STXMImage)
        np.testing.assert_array_equal(im.data, data[0])
    with pytest.raises(ValueError, match="bytes"):
        open_raw(path, offset=60, dtype=">f4", shape=(4, 12, 16))


def test_open_errors_are_clear(tmp_path):
    png = tmp_path / "a.png"
    ImageArray(np.zeros((3, 3), np.uint8)).save(png)
    with pytest.raises(FormatError, match=r"cannot open lazily.*npy.*tiff"):
        stonerimg.open(png)
    with pytest.raises(FileNotFoundError):
        stonerimg.open(tmp_path / "missing.tif")
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mode"):
        stonerimg.open(tmp_path / "x.npy", mode="w")
    assert {f["name"] for f in stonerimg.formats.available() if f["lazy"]} >= {"npy", "tiff", "nexus", "stxm"}


def test_results_and_copies_of_disk_images_are_in_memory(tmp_path):
    data = _frames(3).astype(np.float64)
    np.save(tmp_path / "s.npy", data)
    np.save(tmp_path / "i.npy", data[0])
    with stonerimg.open(tmp_path / "s.npy") as stack, stonerimg.open(tmp_path / "i.npy") as im:
        total = im + 1
        assert type(total) is ImageFile and not isinstance(total, DiskImage)
        np.testing.assert_array_equal(total.data, data[0] + 1)
        clone = stack.clone
        assert type(clone) is ImageStack and not np.shares_memory(clone.data, stack.data)
        picked = stack[[0, 2]]
        assert type(picked) is ImageStack
        np.testing.assert_array_equal(picked.data, data[[0, 2]])
    assert clone == ImageStack(data) and np.array_equal(total.data, data[0] + 1)


def test_in_place_stack_operations_on_a_read_only_file_use_a_scratch_copy(tmp_path, scratch_dir):
    from scipy import ndimage

    yy, xx = np.mgrid[:40, :48]
    ref = np.exp(-((xx - 20) ** 2 + (yy - 18) ** 2) / 12.0) + np.exp(-((xx - 30) ** 2 + (yy - 25) ** 2) / 8.0)
    frames = np.array([ref, ndimage.shift(ref, (1.0, -2.0)), ndimage.shift(ref, (-1.5, 0.5))])
    path = tmp_path / "d.npy"
    np.save(path, frames)
    before = _snapshot(path)
    expected = ImageStack(frames.copy()).correct_drifts(upsample_factor=20)
    with stonerimg.open(path) as stack:
        stack.correct_drifts(upsample_factor=20)
        assert stack.is_scratch and stack.is_disk_image
        np.testing.assert_allclose(stack.data, expected.data)
        assert stack.metadata_of(1)["correct_drift"] == expected.metadata_of(1)["correct_drift"]
    ints = _frames(3)
    np.save(tmp_path / "i.npy", ints)
    with stonerimg.open(tmp_path / "i.npy") as stack:
        stack.subtract(0)
        assert stack.dtype == np.float64 and stack.is_scratch
        np.testing.assert_array_equal(stack.data, ints.astype(float) - ints[0])
    assert _snapshot(path) == before and list(scratch_dir.iterdir()) == []


def test_streamed_mean_of_a_masked_disk_stack_ignores_masked_pixels(tmp_path, scratch_dir):
    data = _frames(4).astype(np.float64)
    mask = np.zeros(data.shape, bool)
    mask[1, 2, 3] = mask[:, 0, 0] = True
    reference = np.ma.MaskedArray(data, mask=mask)
    stack = stonerimg.disk.stack_on_disk([ImageArray(d, mask=m) for d, m in zip(data, mask, strict=True)])
    mean = stack.mean()
    np.testing.assert_allclose(mean.data[~mask.all(axis=0)], reference.mean(axis=0).compressed())
    np.testing.assert_array_equal(np.ma.getmaskarray(mean.image), mask.all(axis=0))
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    expected = np.ma.average(reference, axis=0, weights=weights)
    np.testing.assert_allclose(stack.average(weights).data[1:, 1:], expected[1:, 1:])
    np.testing.assert_array_equal(np.ma.getmaskarray(stack[1].image), mask[1])
    stack.close()
    assert list(scratch_dir.iterdir()) == []


def test_disk_classes_are_not_called_directly():
    with pytest.raises(TypeError, match="stonerimg.open"):
        DiskImageStack(np.zeros((2, 3, 3)))
    with pytest.raises(TypeError, match="stonerimg.open"):
        stonerimg.disk.DiskImageFile(np.zeros((3, 3)))


def test_a_slice_of_a_masked_disk_stack_keeps_its_frames_masks(scratch_dir):
    data = _frames(4).astype(float)
    masks = np.zeros(data.shape, bool)
    masks[2, 1, 1] = True
    with stonerimg.disk.stack_on_disk([ImageArray(d, mask=m) for d, m in zip(data, masks, strict=True)]) as stack:
        part = stack[1:3]
        np.testing.assert_array_equal(np.ma.getmaskarray(part.image), masks[1:3])
        np.testing.assert_array_equal(np.ma.getmaskarray(part[1].image), masks[2])


@pytest.mark.parametrize("chunked", [False, True])
def test_image_functions_on_a_read_write_image_write_into_the_file(tmp_path, chunked):
    path = _stxm_file(tmp_path / "n.hdf5", chunked)
    expected = stonerimg.load(path).normalise()
    with stonerimg.open(path, mode="r+") as im:
        im.normalise()
        assert im.is_disk_image
        np.testing.assert_allclose(im.data, expected.data)
        assert im.metadata["history"] == expected.metadata["history"]
    with h5py.File(path, "r") as f:
        np.testing.assert_allclose(f["entry1/counter0/data"][()][::-1], expected.data)


def test_imagej_sample_tiff_opens_like_it_loads(sample_data):
    path = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
    if not path.is_file():
        pytest.skip(f"no {path.name} in the sample data")
    loaded = stonerimg.load(path)
    with stonerimg.open(path) as im:
        assert _memmap_base(im.image) is not None
        np.testing.assert_array_equal(im.data, tifffile.imread(path))
        assert im.metadata == loaded.metadata and im.calibration == loaded.calibration


@pytest.mark.parametrize("dtype", ["uint16", "float64"])
def test_stoner_tiff_gets_its_metadata_or_a_clear_refusal(tmp_path, dtype):
    from .formats.test_tiff import STONER_ENTRIES, stoner_save_tiff

    data = (np.arange(7 * 13).reshape(7, 13) * 3).astype(dtype)
    entries = [
        e if not e.startswith("ImageArray.dtype") else f"ImageArray.dtype{{String}}={dtype}" for e in STONER_ENTRIES
    ]
    path = tmp_path / "stoner.tif"
    stoner_save_tiff(data, path, entries)  # Pillow stores float64 as float32
    if dtype == "uint16":
        with stonerimg.open(path) as im:
            assert im.metadata == stonerimg.load(path).metadata and im.metadata["count"] == 3
            np.testing.assert_array_equal(im.data, data)
    else:
        with pytest.raises(FormatError, match="load\\(\\) it"):
            stonerimg.open(path)


def test_tifffile_reads_a_stack_tiff_page_by_page(tmp_path):
    # the stack's JSON holds "shape", which tifffile would take for its own contiguous "shaped" layout
    data = _frames(3, shape=(5, 7), dtype=np.uint8)
    path = tmp_path / "pages.tif"
    ImageStack(data, metadata={"shape": "disc"}).to_tiff(path)
    np.testing.assert_array_equal(tifffile.imread(path), data)
    assert ImageStack.from_tiff(path).metadata["shape"] == "disc"


def test_each_keeps_the_masks_of_its_results(tmp_path, scratch_dir):
    data = _frames(3)
    np.save(tmp_path / "m.npy", data)

    def mask_bright(frame):
        image = frame.image.astype(np.float64)
        image.mask = image.data > 900
        return image

    with stonerimg.open(tmp_path / "m.npy") as stack:
        stack.each(mask_bright)
        np.testing.assert_array_equal(np.ma.getmaskarray(stack.image), data > 900)
        assert len(list(scratch_dir.iterdir())) == 2  # pixels and masks, both scratch
        expected = np.ma.MaskedArray(data.astype(float), mask=data > 900).mean(axis=0)
        np.testing.assert_allclose(stack.mean().data[~expected.mask], expected.compressed())
    assert list(scratch_dir.iterdir()) == []
