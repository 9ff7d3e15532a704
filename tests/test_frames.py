"""The frame-sequence operations shared by ImageStack and ImageFolder, and the errors policy, on real files.

Every folder here is a copy of real sample files (``../shared/data``) in a
temporary directory, with a truncated file and an empty file among them.  The
references are computed independently: Pillow + NumPy for the Kerr PNGs.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import stonerimg
from stonerimg import ImageArray, ImageFolder, ImageStack
from stonerimg._frames import RunningMean, RunningVariance, Skipped, check_errors

BAD = ("aa_empty", "zz_truncated")


def _with_bad_files(source_files, target, suffix):
    """Copy real files into ``target`` and add an empty and a truncated one."""
    target.mkdir()
    for path in source_files:
        shutil.copy(path, target / path.name)
    (target / f"{BAD[0]}{suffix}").write_bytes(b"")
    data = source_files[0].read_bytes()
    (target / f"{BAD[1]}{suffix}").write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture
def kerr_folder(kerr_dir, tmp_path):
    return _with_bad_files(sorted((kerr_dir / "fields").glob("*.png")), tmp_path / "kerr", ".png")


@pytest.fixture
def kerr_good(kerr_dir):
    files = sorted((kerr_dir / "fields").glob("*.png"))
    return [f.name for f in files], np.stack([np.asarray(Image.open(f), dtype=np.float64) for f in files])


def _skipped_names(skipped):
    return sorted(entry.name for entry in skipped)


def test_check_errors_names_the_parameter():
    assert check_errors("warn") == "warn"
    with pytest.raises(ValueError, match="errors: must be one of 'raise', 'skip', 'warn'"):
        check_errors("ignore")
    with pytest.raises(ValueError, match="errors"):
        ImageFolder(errors="ignore")


@pytest.mark.parametrize("errors", ["skip", "warn"])
def test_folder_statistics_skip_the_bad_files(kerr_folder, kerr_good, errors):
    names, good = kerr_good
    folder = ImageFolder(kerr_folder, "*.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mean = folder.mean(errors=errors)
        std = folder.stddev(errors=errors)
    np.testing.assert_allclose(mean.data, good.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std.data, good.std(axis=0, ddof=1), rtol=1e-9, atol=1e-9)
    for result in (mean, std):
        assert _skipped_names(result.skipped) == [f"{BAD[0]}.png", f"{BAD[1]}.png"]
        assert all(isinstance(s, Skipped) and s.reason for s in result.skipped)
    assert folder.skipped == std.skipped
    messages = [str(w.message) for w in caught]
    if errors == "warn":
        assert sum(f"{BAD[1]}.png" in m for m in messages) == 2  # once per operation
    else:
        assert not any(BAD[1] in m for m in messages)
    # the result's metadata: items every good file shares, not the field (which differs)
    assert "field" not in mean.metadata and mean.metadata["Version"] == folder[names[0]].metadata["Version"]


def test_folder_raise_names_the_bad_file(kerr_folder):
    folder = ImageFolder(kerr_folder, "*.png")
    with pytest.raises(ValueError, match=f"{BAD[0]}.png"):
        folder.mean()
    with pytest.raises(ValueError, match=f"{BAD[0]}.png"):
        folder.montage(errors="raise")


def test_folder_level_default_applies_to_every_operation(kerr_folder, kerr_good):
    names, good = kerr_good
    folder = ImageFolder(kerr_folder, "*.png", errors="skip")
    bad = [f"{BAD[0]}.png", f"{BAD[1]}.png"]

    weights = np.arange(1.0, len(folder) + 1)
    average = folder.average(weights)
    used = weights[[folder.names.index(n) for n in names]]
    np.testing.assert_allclose(average.data, np.average(good, axis=0, weights=used), rtol=1e-12)
    assert _skipped_names(average.skipped) == bad

    tiles = folder.montage(columns=4)
    assert tiles.shape == (2 * good.shape[1], 4 * good.shape[2]) and tiles["montage.names"] == names
    np.testing.assert_array_equal(tiles.data[: good.shape[1], good.shape[2] : 2 * good.shape[2]], good[1])
    assert _skipped_names(tiles.skipped) == bad

    table = folder.metadata(["field"])
    rows = list(table.index) if hasattr(table, "index") else list(table["file"])
    assert rows == names and _skipped_names(folder.skipped) == bad

    middle = float(np.median([folder[n]["field"] for n in names]))
    chosen = folder.filter(lambda doc: doc["field"] > middle)
    assert 0 < len(chosen) < len(names) and _skipped_names(chosen.skipped) == bad
    picked = folder.select(field__le=middle)
    assert sorted(picked.names + chosen.names) == sorted(names) and _skipped_names(picked.skipped) == bad
    groups = folder.groupby(lambda doc: doc["field"] > middle)
    assert sorted(len(g) for g in groups.values()) == sorted([len(chosen), len(picked)])
    assert _skipped_names(groups.skipped) == bad

    cropped = folder.each.crop(10, 110, 20, 70)
    assert cropped is folder and _skipped_names(folder.skipped) == bad
    assert all(folder[n].shape == (50, 100) for n in names)
    sums = folder.each(lambda doc: float(doc.data.sum()))
    assert len(sums) == len(names)

    stack = folder.as_stack()
    assert len(stack) == len(names) and _skipped_names(stack.skipped) == bad
    np.testing.assert_array_equal(stack.data[3], good[3, 20:70, 10:110])
    same = ImageStack(folder)
    assert same == stack and _skipped_names(same.skipped) == bad
    on_disk = folder.as_stack(on_disk=True)
    try:
        assert len(on_disk) == len(names)
        np.testing.assert_array_equal(np.asarray(on_disk.data[-1]), good[-1, 20:70, 10:110])
    finally:
        on_disk.close()


def test_folder_align_skips_bad_files_and_measures_every_good_one(kerr_folder, kerr_good):
    names, _ = kerr_good
    folder = ImageFolder(kerr_folder, "*.png", errors="warn")
    with pytest.warns(UserWarning, match="align: skipped") as caught:
        folder.align(names[0], method="phase", box=(50, 600, 50, 450))
    assert _skipped_names(folder.skipped) == [f"{BAD[0]}.png", f"{BAD[1]}.png"]
    assert sum(BAD[1] in str(w.message) for w in caught) == 1
    assert sorted(folder.modified) == sorted(names)
    assert folder[names[0]]["align.shift"] == (0.0, 0.0)
    assert all(np.all(np.abs(folder[n]["align.shift"]) < 20) for n in names)


def test_stxm_folder_skips_another_shape_and_bad_files(stxm_dir, tmp_path):
    files = sorted(stxm_dir.glob("*.hdf5"))
    root = _with_bad_files(files, tmp_path / "stxm", ".hdf5")
    folder = ImageFolder(root, "*.hdf5", errors="skip")
    mean = folder.mean()
    first = stonerimg.load(files[0])
    np.testing.assert_allclose(mean.data, first.data)  # the second file has another shape: skipped
    reasons = dict((s.name, s.reason) for s in mean.skipped)
    assert set(reasons) == {f"{BAD[0]}.hdf5", f"{BAD[1]}.hdf5", files[1].name}
    assert "shape" in reasons[files[1].name]
    assert isinstance(mean, type(first))
    montage = folder.montage(columns=2)  # tiles of different shapes: padded and masked
    assert montage["montage.names"] == [f.name for f in files]
    assert montage.mask[: first.shape[0], first.shape[1] :].any()


def test_maximus_folder_skips_bad_headers(sample_data, tmp_path):
    source = sample_data / "maximus" / "MPI_210127021"
    if not source.is_dir():
        pytest.skip("no MAXYMUS sample")
    root = _with_bad_files(sorted(source.glob("*")), tmp_path / "maximus", ".hdr")
    folder = ImageFolder(root, "*.hdr", errors="skip")
    assert len(folder) == 3
    mean = folder.mean()
    np.testing.assert_allclose(mean.data, stonerimg.load(source / "MPI_210127021.hdr").data)
    assert _skipped_names(mean.skipped) == [f"{BAD[0]}.hdr", f"{BAD[1]}.hdr"]
    assert folder.metadata().shape[0] == 1


# ------------------------------------------------------------------ one implementation
def test_stack_and_folder_give_the_same_statistics_and_montage(kerr_dir):
    folder = ImageFolder(kerr_dir / "fields", "*.png")
    stack = ImageStack(folder)
    np.testing.assert_allclose(stack.mean().data, folder.mean().data, rtol=1e-12)
    np.testing.assert_allclose(stack.stddev().data, folder.stddev().data, rtol=1e-9)
    np.testing.assert_allclose(stack.stderr().data, folder.stderr().data, rtol=1e-9)
    options = {"columns": 3, "size": 200, "gap": 2, "fill": 0, "normalise": True}
    a, b = stack.montage(**options), folder.montage(**options)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a["montage.grid"] == b["montage.grid"] == (3, 3)
    # defaults: the same, and they keep the data (no shrinking, no rescaling)
    plain = stack.montage()
    assert plain.dtype == stack.dtype and plain.shape == (3 * 512, 3 * 672)
    np.testing.assert_array_equal(plain.data, folder.montage().data)


def test_running_statistics_match_numpy_with_masks_and_weights():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(7, 5, 6))
    mask = rng.random(data.shape) < 0.3
    mask[:, 0, 0] = True  # a pixel masked everywhere
    weights = rng.uniform(0.5, 2.0, 7)
    reference = np.ma.MaskedArray(data, mask)
    mean, var = RunningMean(), RunningVariance()
    for frame, frame_mask, w in zip(data, mask, weights, strict=True):
        mean.add(frame, frame_mask, w)
        var.add(frame, frame_mask)
    values, masked = mean.result()
    expected = np.ma.average(reference, axis=0, weights=weights)
    np.testing.assert_allclose(values[~masked], expected.compressed())
    assert masked[0, 0] and masked.sum() == 1
    std, masked = var.std(ddof=1)
    expected = reference.std(axis=0, ddof=1)
    np.testing.assert_allclose(std[~masked], expected[~masked].data)
    with pytest.raises(ValueError, match="differs from the first frame"):
        mean.add(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="weights"):
        mean.add(data[0], weight=-1)
    assert mean.n == 7  # a refused frame changes nothing


# ------------------------------------------------------------------ align
SHIFTS = [(0.0, 0.0), (1.37, -0.62), (-2.81, 0.23), (0.45, 3.09)]  # (dx, dy) in pixels


def _kermit_frames(kerr_dir):
    kermit = np.asarray(Image.open(kerr_dir / "kermit.png"), dtype=np.float64)
    if kermit.ndim == 3:
        kermit = kermit.mean(axis=2)
    spectrum = np.fft.fft2(kermit)
    # a Fourier shift: exact for a periodic image, no interpolation of our own to agree with
    return [np.fft.ifft2(ndimage.fourier_shift(spectrum, (dy, dx))).real for dx, dy in SHIFTS]


@pytest.mark.parametrize("method", ["phase", "scharr"])
def test_stack_align_measures_known_subpixel_shifts(kerr_dir, method):
    stack = ImageStack(_kermit_frames(kerr_dir))
    stack.align(0, method=method, upsample_factor=100, window=None)
    for i, (dx, dy) in enumerate(SHIFTS):
        sx, sy = stack.metadata_of(i)["align.shift"] if i else (0.0, 0.0)
        assert abs(sx + dx) < 0.05 and abs(sy + dy) < 0.05, (i, (sx, sy), (dx, dy))
    assert stack.metadata["translation_limits"][0] >= 2  # the box valid in every frame
    # the frames now sit on frame 0 (away from the edges that came from outside)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(stack.data[2][inner] - stack.data[0][inner]).mean() < 0.05 * np.abs(stack.data[0]).mean()


def test_folder_align_and_correct_drift_aliases(kerr_dir, tmp_path):
    frames = _kermit_frames(kerr_dir)
    for i, frame in enumerate(frames):
        ImageArray(frame).save(tmp_path / f"k{i}.tif")
    folder = ImageFolder(tmp_path)
    folder.align(0, method="phase", upsample_factor=100, window=None)
    stack = ImageStack(frames).correct_drift(0, upsample_factor=100)
    for i, (dx, dy) in enumerate(SHIFTS):
        sx, sy = folder[i]["align.shift"]
        assert abs(sx + dx) < 0.05 and abs(sy + dy) < 0.05
        drift = stack.metadata_of(i)["correct_drift"]
        assert abs(drift[0] - dx) < 0.05 and abs(drift[1] - dy) < 0.05


# ------------------------------------------------------------------ multi-frame files
def test_a_multi_frame_file_is_a_3d_image_and_imagestack_path_gives_its_frames(sample_data, tmp_path):
    maximus = sample_data / "maximus" / "MPI_210127021" / "MPI_210127021.hdr"
    if not maximus.is_file():
        pytest.skip("no MAXYMUS sample")
    document = stonerimg.load(maximus)
    assert type(document) is stonerimg.ImageFile and document.ndim == 3
    frames = ImageStack(maximus)
    assert len(frames) == document.shape[0] and frames.filenames == (str(maximus),) * len(frames)
    np.testing.assert_array_equal(frames.data, document.data)
    tiff = tmp_path / "frames.tif"
    frames.save(tiff)
    again = stonerimg.load(tiff)
    assert type(again) is stonerimg.ImageFile and again.shape == document.shape  # TIFF: the same rule
    assert ImageStack(tiff) == ImageStack.from_tiff(tiff)
    single = ImageStack(sample_data / "kerr" / "kermit.png")
    assert single.shape == (1, *stonerimg.load(sample_data / "kerr" / "kermit.png").shape)


# ------------------------------------------------------------------ folder conveniences
def test_folder_size_images_loaded_and_add(kerr_folder, kerr_good, stxm_dir):
    names, good = kerr_good
    folder = ImageFolder(kerr_folder, "*.png", errors="skip", cache_size=2)
    assert folder.loaded == []
    assert folder.size == good.shape[1:]  # the bad files are skipped
    assert _skipped_names(folder.skipped) == [f"{BAD[0]}.png", f"{BAD[1]}.png"]
    assert len(folder.loaded) == 2  # the cache holds two
    seen = [doc.filename for doc in folder.images]
    assert [Path(f).name for f in seen] == names
    folder.each.crop(0, 100, 0, 50)
    assert set(folder.loaded) == set(names)  # changed documents stay in memory
    assert folder.size == (50, 100)

    empty = ImageFolder()
    assert len(empty) == 0 and empty.size is None and empty.directory is None
    empty.add(kerr_folder / names[0])
    empty.add(stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5"))
    empty.add(ImageArray(np.ones((3, 3))), name="ones")
    assert empty.names == [str(kerr_folder / names[0]), "Sample_Image_2017-10-15_100.hdf5", "ones"]
    np.testing.assert_array_equal(empty[0].data, good[0])
    assert empty.size is None and empty["ones"].shape == (3, 3)
    with pytest.raises(ValueError, match="already"):
        empty.add(ImageArray(np.ones((3, 3))), name="ones")
    with pytest.raises(FileNotFoundError, match="no such file"):
        empty.add(kerr_folder / "missing.png")
    stack = ImageStack(ImageFolder(errors="skip").add(ImageArray(np.ones((3, 3)))).add(ImageArray(np.zeros((3, 3)))))
    assert stack.shape == (2, 3, 3)


def test_imagestack_of_a_directory(kerr_good, tmp_path):
    names, good = kerr_good
    for name, frame in zip(names[:3], good[:3], strict=True):
        ImageArray(frame.astype(np.uint16)).save(tmp_path / f"{Path(name).stem}.tif")
    stack = ImageStack(tmp_path)  # an existing directory, not "No such file"
    np.testing.assert_array_equal(stack.data, good[:3])
    assert [Path(f).name for f in stack.filenames] == [f"{Path(n).stem}.tif" for n in names[:3]]
    assert stack.crop(10, 20, 5, 30).shape == (3, 25, 10) and ImageStack.crop is ImageStack.crop_stack
    (tmp_path / "zz_empty.tif").write_bytes(b"")
    with pytest.raises(ValueError, match="zz_empty.tif"):
        ImageStack(tmp_path)  # the folder's default policy: raise, naming the file
    skipping = ImageStack(ImageFolder(tmp_path, errors="skip"))
    assert len(skipping) == 3 and _skipped_names(skipping.skipped) == ["zz_empty.tif"]


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("error", [False, True])
def test_std_without_masks_matches_the_per_pixel_path_and_numpy(ddof, error):
    """The unmasked shortcut of RunningVariance.std agrees with the per-pixel path and a NumPy reference."""
    from stonerimg._frames import RunningVariance

    rng = np.random.default_rng(3)
    frames = [rng.normal(1e3, 3, (6, 7)) for _ in range(5)]
    weights = [1.0, 2.0, 1.0, 3.0, 1.0]
    acc = RunningVariance()
    for frame, weight in zip(frames, weights, strict=True):
        acc.add(frame, None, weight)
    fast, fast_masked = acc.std(ddof, error=error)
    acc._counts = np.full(acc.shape, acc._count, np.int64)  # the path taken once any frame had a mask
    slow, slow_masked = acc.std(ddof, error=error)
    assert not fast_masked.any() and not slow_masked.any()
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    stack, w = np.stack(frames), np.array(weights)[:, None, None]
    mean = (stack * w).sum(0) / w.sum()
    expected = np.sqrt((w * (stack - mean) ** 2).sum(0) / (len(frames) - ddof))  # West: weights sum, frames count
    if error:
        expected /= np.sqrt(len(frames))
    np.testing.assert_allclose(fast, expected, rtol=1e-9)
