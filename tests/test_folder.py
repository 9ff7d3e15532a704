"""ImageFolder, the conversion engine and the supervised worker pool."""

from __future__ import annotations

import faulthandler
import multiprocessing
import operator
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import stonerimg
from stonerimg import ImageArray, ImageFile, formats
from stonerimg._workers import Outcome, TaskTimeoutError, WorkerCrashedError, WorkerPool
from stonerimg.folder import ConversionReport, FolderGroups, ImageFolder, convert_files, natural_key

N_FILES = 200
N_TIFF = 150
SHAPE = (12, 16)


# ------------------------------------------------------------------ fixtures
def _expected(i: int) -> tuple[np.ma.MaskedArray, dict, str]:
    rng = np.random.default_rng(i)
    data = rng.normal(100.0, 10.0, SHAPE).astype(np.float32)
    mask = np.zeros(SHAPE, bool)
    if i % 4:
        mask[i % SHAPE[0], (5 * i) % SHAPE[1]] = True
    if i % 50 == 7:
        mask[:, 3] = True  # a column masked in a few files
    metadata = {
        "index": i,
        "group": i % 3,
        "temperature": 10.0 + 0.5 * i,
        "sample": "Py" if i % 2 else "CoFe",
        "run.id": f"r{i // 50}",
    }
    name = f"scan_{i}.tif" if i < N_TIFF else f"sub/scan_{i}.npy"
    return np.ma.MaskedArray(data, mask=mask), metadata, name


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A folder of 150 TIFFs and, in sub/, 50 NPY files (12 x 16 float32, some pixels masked)."""
    root = tmp_path_factory.mktemp("generated")
    (root / "sub").mkdir()
    expected = {}
    for i in range(N_FILES):
        data, metadata, name = _expected(i)
        ImageArray(data.data, mask=data.mask, metadata=metadata).save(root / name)
        expected[name] = (data, metadata)
    (root / ".hidden.tif").write_bytes((root / "scan_0.tif").read_bytes())
    (root / "notes.txt").write_text("not an image")
    return root, expected


def _names_in_order(expected):
    return sorted(expected, key=natural_key)


@pytest.fixture
def folder(generated):
    root, _ = generated
    return ImageFolder(root, ["*.tif", "*.npy"], recursive=True)


@pytest.fixture
def broken(tmp_path):
    """Five good NPY files and one that is not an image at all."""
    for i in range(5):
        ImageArray(np.full((4, 5), i, np.int32), metadata={"i": i}).save(tmp_path / f"f{i}.npy")
    (tmp_path / "f2_corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    return tmp_path


# ------------------------------------------------------------------ listing
def test_lists_files_naturally_sorted_recursively_without_hidden(folder, generated):
    _, expected = generated
    assert len(folder) == N_FILES
    assert folder.names == _names_in_order(expected)
    assert folder.names[:3] == ["scan_0.tif", "scan_1.tif", "scan_2.tif"]
    assert folder.names.index("scan_2.tif") < folder.names.index("scan_10.tif")
    assert all(isinstance(p, Path) and p.is_file() for p in folder.files)
    assert ".hidden.tif" not in folder.names and "notes.txt" not in folder.names


def test_patterns_and_recursion(generated):
    root, _ = generated
    assert len(ImageFolder(root)) == N_TIFF  # "*.tif", not recursive
    assert len(ImageFolder(root, "*.npy")) == 0
    assert len(ImageFolder(root, "*.npy", recursive=True)) == N_FILES - N_TIFF
    assert ImageFolder(root, ["sub/*.npy", "scan_1?.tif"]).names[:2] == ["scan_10.tif", "scan_11.tif"]


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        ImageFolder(tmp_path / "no-such-folder")
    (tmp_path / "file.tif").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="file.tif"):
        ImageFolder(tmp_path / "file.tif")
    with pytest.raises(ValueError, match="cache_size"):
        ImageFolder(tmp_path, cache_size=-1)


def test_natural_key():
    names = ["a10b2", "a2b10", "a2b9", "A1"]
    assert sorted(names, key=natural_key) == ["A1", "a2b9", "a2b10", "a10b2"]


# ------------------------------------------------------------------ indexing
def test_index_by_position_name_and_base_name(folder, generated):
    _, expected = generated
    data, metadata, _ = _expected(3)
    for document in (folder[3], folder["scan_3.tif"], folder[folder.files[3]], folder[3 - N_FILES]):
        assert isinstance(document, ImageFile)
        np.testing.assert_array_equal(document.data, data.data)
        np.testing.assert_array_equal(document.mask, data.mask)
        assert document["index"] == 3
    assert folder["sub/scan_160.npy"]["index"] == 160
    assert folder["scan_160.npy"]["index"] == 160  # unique base name
    assert "scan_160.npy" in folder and "nope.tif" not in folder
    with pytest.raises(KeyError, match="nope.tif"):
        folder["nope.tif"]
    with pytest.raises(IndexError, match="out of range"):
        folder[N_FILES]
    with pytest.raises(TypeError, match="folder index"):
        folder[1.5]


def test_ambiguous_base_name(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        ImageArray(np.zeros((2, 2))).save(tmp_path / sub / "x.tif")
    folder = ImageFolder(tmp_path, recursive=True)
    assert folder.names == ["a/x.tif", "b/x.tif"]
    with pytest.raises(KeyError, match="names 2 files"):
        folder["x.tif"]
    assert folder["b/x.tif"].filename == str(tmp_path / "b" / "x.tif")


def test_slice_list_and_mask_give_independent_folders(folder):
    part = folder[10:20:2]
    assert isinstance(part, ImageFolder)
    assert part.names == [f"scan_{i}.tif" for i in range(10, 20, 2)]
    assert folder[[5, "scan_7.tif", -1]].names == ["scan_5.tif", "scan_7.tif", folder.names[-1]]
    chosen = np.zeros(len(folder), bool)
    chosen[[1, 4]] = True
    assert folder[chosen].names == ["scan_1.tif", "scan_4.tif"]
    # nothing mutable is shared: a change in one folder is not seen in the other
    folder.each.crop(1)
    sliced = folder[:3]
    sliced.each.crop(1)
    assert folder[0].shape == (SHAPE[0] - 2, SHAPE[1] - 2)
    assert sliced[0].shape == (SHAPE[0] - 4, SHAPE[1] - 4)
    assert folder[0] is not sliced[0]
    assert part._cache is not folder._cache


def test_cache_is_bounded_and_loads_once(generated, monkeypatch):
    root, _ = generated
    loads = []
    real_load = formats.load
    monkeypatch.setattr(formats, "load", lambda path, **kw: loads.append(Path(path).name) or real_load(path, **kw))
    folder = ImageFolder(root, cache_size=4)
    assert loads == []  # listing loads nothing
    first = folder[0]
    assert folder[0] is first and loads == ["scan_0.tif"]
    for _ in folder:
        pass
    assert len(loads) == N_TIFF and len(folder._cache) == 4
    folder[0]
    assert loads[-1] == "scan_0.tif" and len(loads) == N_TIFF + 1  # evicted, so read again
    # metadata queries on files already seen use the record of their small items, no reload
    assert len(folder.select(group=1)) == len([i for i in range(N_TIFF) if i % 3 == 1])
    assert len(loads) == N_TIFF + 1


def test_uncached_folder_still_works(generated):
    root, _ = generated
    folder = ImageFolder(root, cache_size=0)
    assert folder[2] is not folder[2] and folder[2]["index"] == 2


# ------------------------------------------------------------------ selection
def test_select_operators(folder):
    def indices(sub):
        return [doc["index"] for doc in sub]

    everything = range(N_FILES)
    assert indices(folder.select(group=1)) == [i for i in everything if i % 3 == 1]
    assert indices(folder.select(index__gt=190)) == list(range(191, 200))
    assert indices(folder.select(index__ge=198, group__ne=0)) == [199]
    assert indices(folder.select(temperature__lt=11.0)) == [0, 1]
    assert indices(folder.select(temperature__le=11.0)) == [0, 1, 2]
    assert indices(folder.select(sample__contains="F", index__lt=6)) == [0, 2, 4]
    assert indices(folder.select(index__in=(3, 150, 999))) == [3, 150]
    assert indices(folder.select(index__between=(10, 12))) == [10, 11, 12]
    assert indices(folder.select(index=lambda v: v % 97 == 0)) == [0, 97, 194]
    # dotted keys through a dict; several dicts are alternatives
    assert indices(folder.select({"run.id": "r3"}, index__lt=160)) == list(range(150, 160))
    assert indices(folder.select({"index": 4}, {"index__gt": 197})) == [4, 198, 199]
    assert indices(folder.select({"run.id__ne": "r0"}, sample="Py", index__lt=56)) == [51, 53, 55]
    assert len(folder.select(no_such_key=1)) == 0
    with pytest.raises(TypeError, match="dicts of conditions"):
        folder.select(["index"])


def test_filter(folder):
    sub = folder.filter(lambda doc: doc["index"] % 40 == 0 and doc.filename.endswith(".tif"))
    assert sub.names == ["scan_0.tif", "scan_40.tif", "scan_80.tif", "scan_120.tif"]
    with pytest.raises(ZeroDivisionError, match="scan_0.tif"):
        folder.filter(lambda doc: 1 / 0)


def test_groupby_key_and_function(folder):
    groups = folder.groupby("group")
    assert isinstance(groups, FolderGroups)
    assert list(groups) == [0, 1, 2]
    assert [len(groups[k]) for k in groups] == [67, 67, 66]
    assert all(doc["group"] == 1 for doc in groups[1])
    by_run = folder.groupby(lambda doc: doc["run.id"])
    assert {k: len(v) for k, v in by_run.items()} == {"r0": 50, "r1": 50, "r2": 50, "r3": 50}
    assert by_run.apply(len) == {"r0": 50, "r1": 50, "r2": 50, "r3": 50}
    missing = folder[:3].groupby("no_such_key")
    assert list(missing) == [None] and len(missing[None]) == 3
    assert "FolderGroups" in repr(groups)


def test_metadata_table_without_pandas(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    table = folder.metadata(["index", "temperature", "sample", "run.id", "missing"])
    assert isinstance(table, np.ndarray) and table.dtype.names == (
        "file",
        "index",
        "temperature",
        "sample",
        "run.id",
        "missing",
    )
    assert table.dtype["index"] == np.int64 and table.dtype["temperature"] == np.float64
    assert table.dtype["sample"].kind == "U"
    np.testing.assert_array_equal(table["file"], folder.names)
    indices = [int(name.split("_")[1].split(".")[0]) for name in folder.names]
    np.testing.assert_array_equal(table["index"], indices)
    np.testing.assert_allclose(table["temperature"], 10.0 + 0.5 * np.array(indices))
    assert list(table["sample"][:2]) == ["CoFe", "Py"]
    assert all(v is None for v in table["missing"])
    # a number missing in some files becomes NaN
    folder[0].metadata.pop("index")
    folder[0] = folder[0]
    partial = folder[:3].metadata("index")
    assert partial.dtype["index"] == np.float64 and np.isnan(partial["index"][0]) and partial["index"][2] == 2


def test_metadata_table_with_pandas(folder):
    pandas = pytest.importorskip("pandas")
    frame = folder[:5].metadata(["index", "sample"])
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.index) == folder.names[:5] and list(frame["index"]) == [0, 1, 2, 3, 4]


def test_metadata_table_default_keys(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    table = folder[:4].metadata()
    assert {"index", "group", "temperature", "sample", "run.id"} <= set(table.dtype.names)


def test_select_and_metadata_on_real_kerr_fields(kerr_dir):
    fields_dir = kerr_dir / "fields"
    folder = ImageFolder(fields_dir, "*.png")
    assert len(folder) == 8
    # an independent reading of the applied field from the PNG text chunks
    truth = {}
    for path in folder.files:
        with Image.open(path) as png:
            truth[path.name] = float(png.text["X-B-2d{Double Float}"])
    chosen = folder.select(field__lt=-250.0)
    assert chosen.names == [name for name, field in truth.items() if field < -250.0]
    assert len(chosen) == 4
    assert folder.select({"field.units": "Oe"}, Lens=50).names == folder.names
    groups = folder.groupby(lambda doc: round(doc["field"] / 10) * 10)
    assert {k: sorted(v.names) for k, v in groups.items()} == {
        k: sorted(n for n, f in truth.items() if round(f / 10) * 10 == k) for k in groups
    }
    table = folder.metadata(["field", "MicronsPerPixel"])
    values = table["field"] if isinstance(table, np.ndarray) else table["field"].to_numpy()
    np.testing.assert_allclose(values, [truth[n] for n in folder.names])
    assert type(folder[0]).__name__ == "KerrImage"


def test_select_on_real_stxm_metadata(stxm_dir):
    folder = ImageFolder(stxm_dir, "*.hdf5")
    positive = folder.select(**{"collection.polarization.value__gt": 0})
    negative = folder.select({"collection.polarization.value__lt": 0})
    assert len(positive) + len(negative) == len(folder) == 2
    assert all(doc.polarization > 0 for doc in positive) and all(doc.polarization < 0 for doc in negative)


# ------------------------------------------------------------------ each
def test_each_applies_a_registered_function_in_place_and_pins(generated):
    root, _ = generated
    folder = ImageFolder(root, cache_size=2)[:10]
    assert folder.each.crop(2) is folder
    # the cache holds 2 documents, but the 10 changed ones are kept
    for i, document in enumerate(folder):
        data, _, _ = _expected(i)
        assert document.shape == (SHAPE[0] - 4, SHAPE[1] - 4)
        np.testing.assert_array_equal(document.data, data.data[2:-2, 2:-2])
        assert document["history"][-1] == "crop(2)"
    assert folder.modified == folder.names
    spans = folder.each.span()
    assert len(spans) == 10 and spans[0] == (float(_expected(0)[0][2:-2, 2:-2].min()), pytest.approx(spans[0][1]))
    assert "crop" in dir(folder.each)
    with pytest.raises(AttributeError, match="not a registered image function"):
        _ = folder.each.no_such_function
    with pytest.raises(ValueError, match="scan_0.tif"):
        folder.each.crop(100, 0, 0, 0)
    folder.reload()
    assert folder.modified == [] and folder[0].shape == SHAPE


def test_each_callable_returns_results_and_keeps_changes(generated):
    root, _ = generated
    folder = ImageFolder(root, cache_size=1)[:6]
    sums = folder.each(lambda doc, scale: scale * float(doc.data.sum()), 2.0)
    assert sums == [2.0 * float(_expected(i)[0].data.sum()) for i in range(6)]
    assert folder.modified == []  # reading changes nothing, nothing is pinned

    def tag(doc):
        doc["checked"] = True

    folder.each(tag)
    assert folder.modified == folder.names
    assert all(doc["checked"] for doc in folder)


# ------------------------------------------------------------------ map
def _sum_of(document):
    return float(np.asarray(document.data, dtype=np.float64).sum()), document["index"]


def test_map_in_process_and_in_two_workers_agree(folder, generated):
    _, expected = generated
    local = folder.map(_sum_of)
    parallel = folder.map(_sum_of, workers=2)
    assert parallel == local
    names = folder.names
    assert local == [(float(expected[n][0].data.astype(np.float64).sum()), expected[n][1]["index"]) for n in names]


def test_map_gets_changed_documents_in_workers_too(generated):
    root, _ = generated
    folder = ImageFolder(root)[:4]
    folder.each.crop(3)
    assert folder.map(lambda d: d.shape, workers=2) == [(SHAPE[0] - 6, SHAPE[1] - 6)] * 4
    assert folder.map(lambda d: d.shape) == [(SHAPE[0] - 6, SHAPE[1] - 6)] * 4


@pytest.mark.parametrize("workers", [0, 2])
def test_map_error_modes(broken, workers):
    folder = ImageFolder(broken, "*.npy")
    assert folder.names == ["f0.npy", "f1.npy", "f2.npy", "f2_corrupt.npy", "f3.npy", "f4.npy"]

    def total(doc):
        return int(doc.data.sum())

    with pytest.raises(stonerimg.FormatError, match="f2_corrupt.npy") as raised:
        folder.map(total, workers=workers)
    assert raised.value.__cause__ is not raised.value  # no cycle for traceback printers to loop on
    assert folder.map(total, workers=workers, errors="skip") == [0, 20, 40, 60, 80]
    collected = folder.map(total, workers=workers, errors="collect")
    assert collected[:3] == [0, 20, 40] and collected[4:] == [60, 80]
    assert isinstance(collected[3], stonerimg.FormatError) and "f2_corrupt.npy" in str(collected[3])

    def fussy(doc):
        if doc["i"] == 1:
            raise KeyError("no good")
        return doc["i"]

    collected = ImageFolder(broken, "f?.npy").map(fussy, workers=workers, errors="collect")
    assert collected[0] == 0 and isinstance(collected[1], KeyError) and "f1.npy" in str(collected[1])


def test_map_timeout_costs_one_file(broken):
    folder = ImageFolder(broken, "f?.npy")

    def slow_on_three(doc):
        if doc["i"] == 3:
            time.sleep(30)
        return doc["i"]

    start = time.monotonic()
    results = folder.map(slow_on_three, workers=2, timeout=1.0, errors="collect")
    assert time.monotonic() - start < 10
    assert results[:3] == [0, 1, 2] and results[4] == 4
    assert isinstance(results[3], TaskTimeoutError) and "timed out after 1 s" in str(results[3])
    assert "f3.npy" in str(results[3])


def test_map_checks_its_arguments(folder):
    with pytest.raises(ValueError, match="errors"):
        folder.map(len, errors="ignore")
    with pytest.raises(ValueError, match="workers"):
        folder.map(len, workers=-1)
    with pytest.raises(ValueError, match="timeout"):
        folder.map(len, timeout=0)
    with pytest.raises(TypeError, match="func"):
        folder.map(None)


def test_progress_bar_on_request(broken, capsys):
    ImageFolder(broken, "f?.npy").map(lambda d: 1, progress=True)
    assert "5/5" in capsys.readouterr().err
    ImageFolder(broken, "f?.npy").map(lambda d: 1)  # stderr is not a terminal here: no bar by default
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ statistics
def _reference_stack(folder, generated):
    _, expected = generated
    return np.ma.stack([expected[name][0].astype(np.float64) for name in folder.names])


def test_mean_stddev_stderr_match_numpy_masked(folder, generated):
    stack = _reference_stack(folder, generated)
    # the loaded arrays are what was written (read independently with tifffile)
    np.testing.assert_array_equal(tifffile.imread(folder.files[5]), stack[5].data.astype(np.float32))
    mean = folder.mean()
    np.testing.assert_allclose(mean.data, stack.mean(axis=0).data, rtol=1e-12)
    assert not mean.mask.any()  # every pixel is unmasked in some file
    std = folder.stddev()
    np.testing.assert_allclose(std.data, stack.std(axis=0, ddof=1).data, rtol=1e-9)
    np.testing.assert_allclose(folder.stddev(ddof=0).data, stack.std(axis=0).data, rtol=1e-9)
    count = stack.count(axis=0)
    np.testing.assert_allclose(folder.stderr().data, stack.std(axis=0, ddof=1).data / np.sqrt(count), rtol=1e-9)
    assert mean.dtype == np.float64 and mean.shape == SHAPE
    assert mean["sample"] if "sample" in mean.metadata else True
    assert "index" not in mean.metadata  # differs between files
    assert mean["history"] == [f"mean of {N_FILES} images in {folder.directory}"]


def test_average_with_weights_and_fully_masked_pixels(folder, generated):
    part = folder[:20]
    stack = _reference_stack(part, generated)
    weights = np.arange(1.0, 21.0)
    np.testing.assert_allclose(part.average(weights).data, np.ma.average(stack, axis=0, weights=weights).data)
    by_key = part.average("temperature")
    temps = 10.0 + 0.5 * np.arange(20)
    np.testing.assert_allclose(by_key.data, np.ma.average(stack, axis=0, weights=temps).data)
    # a pixel masked in every file is masked in the result
    only = folder[["scan_7.tif"]]
    assert only.mean().mask[:, 3].all() and not only.mean().mask[:, 4].any()
    assert only.stddev().mask.all()  # one file: no sample standard deviation
    with pytest.raises(ValueError, match="weights"):
        part.average([1.0, 2.0])


def test_mean_names_a_file_of_another_shape(tmp_path):
    ImageArray(np.zeros((3, 3))).save(tmp_path / "a.tif")
    ImageArray(np.zeros((4, 3))).save(tmp_path / "b.tif")
    with pytest.raises(ValueError, match="b.tif"):
        ImageFolder(tmp_path).mean()


def test_mean_of_real_kerr_images(kerr_dir):
    folder = ImageFolder(kerr_dir / "fields", "*.png", cache_size=2)
    arrays = [np.asarray(Image.open(p), dtype=np.float64) for p in folder.files]
    np.testing.assert_allclose(folder.mean().data, np.mean(arrays, axis=0))
    mean = folder.mean()
    assert type(mean).__name__ == "KerrImage" and mean["MicronsPerPixel"] == folder[0]["MicronsPerPixel"]


# ------------------------------------------------------------------ align, montage, stack
def test_align_recovers_known_shifts(tmp_path, kerr_dir):
    from scipy import ndimage

    base = stonerimg.load(kerr_dir / "fields" / "000_field235_run0_unproccessed.png").image
    region = np.asarray(base.data[100:228, 200:328], dtype=np.float64)
    shifts = [(0.0, 0.0), (1.5, -2.0), (-3.25, 0.75)]  # (x, y)
    for i, (dx, dy) in enumerate(shifts):
        ImageArray(ndimage.shift(region, (dy, dx), mode="nearest")).save(tmp_path / f"k{i}.tif")
    folder = ImageFolder(tmp_path)
    assert folder.align(0, method="phase") is folder
    for document, (dx, dy) in zip(folder, shifts, strict=True):
        np.testing.assert_allclose(document["align.shift"], (-dx, -dy), atol=0.05)
    assert folder.modified == folder.names
    again = ImageFolder(tmp_path).align(ref=ImageArray(region), function="correct_drift")
    np.testing.assert_allclose(again[2]["correct_drift"], shifts[2], atol=0.05)
    with pytest.raises(ValueError, match="function"):
        folder.align(function="shift")


def test_montage_tiles_the_images(folder):
    part = folder[:5]
    tiled = part.montage(columns=3, gap=1, normalise=False)
    assert tiled.shape == (2 * SHAPE[0] + 1, 3 * SHAPE[1] + 2)
    assert tiled["montage.grid"] == (2, 3) and tiled["montage.names"] == part.names
    tile = np.ma.MaskedArray(tiled.data, tiled.mask)[: SHAPE[0], SHAPE[1] + 1 : 2 * SHAPE[1] + 1]
    np.testing.assert_array_equal(tile.mask, part[1].mask)
    np.testing.assert_array_equal(tile.compressed(), part[1].image.compressed())
    assert tiled.mask[:, SHAPE[1]].all()  # the gap
    assert tiled.mask[SHAPE[0] + 1 :, 2 * SHAPE[1] + 2 :].all()  # the empty sixth tile
    assert tiled.mask[SHAPE[0] + 1 + 3, 15]  # file 3 (row 1, column 0) has its pixel (3, 15) masked
    small = part.montage(size=6, gap=2, normalise=True)
    assert small.shape == (2 * 4 + 2, 3 * 6 + 4)  # every 3rd pixel: 4 x 6 tiles, 2 px gaps
    assert 0.0 <= small.image.min() and small.image.max() <= 1.0


def test_as_stack(folder):
    pytest.importorskip("stonerimg.stack")
    stack = folder[:4].as_stack()
    assert stack.shape == (4, *SHAPE)
    np.testing.assert_array_equal(np.asarray(stack.data[2]), _expected(2)[0].data)


# ------------------------------------------------------------------ convert
def test_convert_to_tiff_keeps_subfolders_metadata_and_inputs(folder, generated, tmp_path):
    root, expected = generated
    before = {p: p.read_bytes() for p in folder.files[:3] + folder.files[-3:]}
    report = folder.convert(tmp_path / "out", "tiff")
    assert isinstance(report, ConversionReport) and report.ok
    assert len(report.converted) == N_FILES and report.skipped == [] and report.failed == []
    assert report.summary().startswith(f"{N_FILES} files: {N_FILES} converted, 0 skipped, 0 failed")
    name = "sub/scan_170.npy"
    output = tmp_path / "out" / "sub" / "scan_170.tif"
    assert (root / name, output) in report.converted
    np.testing.assert_array_equal(tifffile.imread(output), expected[name][0].data)
    converted = stonerimg.load(output)
    assert converted["index"] == 170 and converted["run.id"] == "r3"
    np.testing.assert_array_equal(converted.mask, expected[name][0].mask)
    assert before == {p: p.read_bytes() for p in before}  # inputs untouched
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left


def test_convert_npy_never_overwrites_unless_asked(folder, tmp_path):
    part = folder[:6]
    first = part.convert(tmp_path, "npy")
    assert len(first.converted) == 6
    target = tmp_path / "scan_0.npy"
    np.testing.assert_array_equal(np.load(target), _expected(0)[0].data)
    target.write_bytes(b"keep me")
    second = part.convert(tmp_path, "npy")
    assert second.converted == [] and len(second.skipped) == 6 and second.ok
    assert "exists" in second.skipped[0][1] and target.read_bytes() == b"keep me"
    third = part.convert(tmp_path, "npy", overwrite=True, workers=2)
    assert len(third.converted) == 6 and np.load(target).shape == SHAPE


def test_convert_with_process_steps(folder, tmp_path):
    report = folder[:3].convert(tmp_path, "tiff", process=[("crop", (2,), {}), "asfloat"])
    assert report.ok
    data = tifffile.imread(tmp_path / "scan_1.tif")
    np.testing.assert_allclose(data, _expected(1)[0].data[2:-2, 2:-2].astype(np.float64))
    assert stonerimg.load(tmp_path / "scan_1.tif")["history"][-2:] == ["crop(2)", "asfloat()"]
    with pytest.raises(ValueError, match="not a registered image function"):
        folder.convert(tmp_path, process=[("os.system", ("ls",), {})])
    with pytest.raises(ValueError, match="fmt"):
        folder.convert(tmp_path, fmt="gif")


@pytest.mark.parametrize("workers", [0, 2])
def test_convert_reports_a_corrupt_file(broken, tmp_path, workers):
    report = ImageFolder(broken, "*.npy").convert(tmp_path / "out", "tiff", workers=workers)
    assert not report.ok and len(report.converted) == 5
    [(source, reason)] = report.failed
    assert source.name == "f2_corrupt.npy" and "FormatError" in reason
    assert "1 failed" in report.summary() and "f2_corrupt.npy" in str(report)
    assert not (tmp_path / "out" / "f2_corrupt.tif").exists()


def test_convert_stxm_to_hdf5_and_refuses_other_images(stxm_dir, kerr_dir, tmp_path):
    import h5py

    folder = ImageFolder(stxm_dir, "*.hdf5")
    report = folder.convert(tmp_path / "stxm", "hdf5", workers=1)
    assert report.ok and len(report.converted) == 2
    for source, output in report.converted:
        assert output.suffix == ".hdf5"
        original, copy = stonerimg.load(source), stonerimg.load(output)
        assert type(copy).__name__ == "STXMImage" and copy.polarization == original.polarization
        with h5py.File(output, "r") as handle:  # independent reading: the raw dataset, row 0 = lowest y
            np.testing.assert_array_equal(handle["entry1/counter0/data"][()][::-1], original.data)
    kerr = ImageFolder(kerr_dir / "fields", "*.png")[:2]
    refused = kerr.convert(tmp_path / "kerr", "hdf5")
    assert len(refused.failed) == 2 and "STXM images only" in refused.failed[0][1]


def test_convert_refuses_to_replace_inputs_or_merge_outputs(tmp_path):
    ImageArray(np.zeros((2, 2))).save(tmp_path / "a.tif")
    ImageArray(np.ones((2, 2))).save(tmp_path / "a.npy")
    folder = ImageFolder(tmp_path, ["*.tif", "*.npy"])
    report = folder.convert(tmp_path, "tiff", overwrite=True)
    reasons = dict(report.failed)
    assert "would replace its input" in reasons[tmp_path / "a.tif"]
    assert f"would replace the input {tmp_path / 'a.tif'}" in reasons[tmp_path / "a.npy"]
    assert report.converted == [] and tifffile.imread(tmp_path / "a.tif").sum() == 0


def test_convert_files_mixes_files_and_folders(generated, tmp_path):
    root, _ = generated
    report = convert_files([root / "sub", root / "scan_3.tif", tmp_path / "missing.tif"], tmp_path / "out", fmt="npy")
    assert len(report.converted) == 51
    assert (tmp_path / "out" / "scan_160.npy").is_file() and (tmp_path / "out" / "scan_3.npy").is_file()
    assert report.failed == [(tmp_path / "missing.tif", "no such file or folder")]


# ------------------------------------------------------------------ hangs and crashes
def _sleepy_load(path, **kwargs):
    time.sleep(60)
    raise AssertionError("should have been killed")


def _crashing_load(path, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _exiting_load(path, **kwargs):
    os._exit(3)


@pytest.fixture
def trap_formats(monkeypatch):
    """Formats whose loaders hang, kill their own process, or exit (inherited by forked workers)."""
    for name, loader in (("hang", _sleepy_load), ("crash", _crashing_load), ("exit", _exiting_load)):
        fmt = formats.Format(name=f"test-{name}", extensions={f".{name}": 1}, load=loader)
        monkeypatch.setitem(formats._BUILTIN, fmt.name, fmt)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the trap formats reach workers by fork"
)
def test_a_hung_or_crashed_worker_costs_one_file(trap_formats, broken, tmp_path):
    for name in ("x.hang", "y.crash", "z.exit"):
        (broken / name).write_bytes(b"anything")
    folder = ImageFolder(broken, ["f?.npy", "*.hang", "*.crash", "*.exit"])
    start = time.monotonic()
    report = folder.convert(tmp_path / "out", "tiff", workers=2, timeout=1.5)
    assert time.monotonic() - start < 20
    assert sorted(s.name for s, _ in report.converted) == [f"f{i}.npy" for i in range(5)]
    reasons = {source.name: reason for source, reason in report.failed}
    assert reasons == {
        "x.hang": "timed out after 1.5 s",
        "y.crash": f"worker crashed (signal {signal.SIGKILL.value})",
        "z.exit": "worker crashed (exit code 3)",
    }
    for i in range(5):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / f"f{i}.tif"), np.full((4, 5), i))
    assert multiprocessing.active_children() == []


def _slow_save(image, path, **kwargs):
    with formats.atomic_path(path) as temp:
        temp.write_bytes(b"half of it")
        time.sleep(60)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the trap format reaches workers by fork"
)
def test_a_worker_killed_while_writing_leaves_no_partial_output(monkeypatch, broken, tmp_path):
    fmt = formats.Format(name="test-slow", extensions={".slow": 1}, load="stonerimg.formats.npy:load", save=_slow_save)
    monkeypatch.setitem(formats._BUILTIN, fmt.name, fmt)
    out = tmp_path / "out"
    report = ImageFolder(broken, "f0.npy").convert(out, "test-slow", workers=1, timeout=1.0)
    assert report.failed == [(broken / "f0.npy", "timed out after 1 s")]
    assert list(out.iterdir()) == []  # the temporary file of the killed worker is gone


def test_convert_warns_about_changes_in_memory(folder, tmp_path):
    part = folder[:2]
    part.each.crop(1)
    with pytest.warns(UserWarning, match="in-memory changes of 2"):
        part.convert(tmp_path)
    assert tifffile.imread(tmp_path / "scan_0.tif").shape == SHAPE  # converted from the file on disk


def test_assigning_a_document_pins_it(generated):
    root, _ = generated
    folder = ImageFolder(root, cache_size=1)[:3]
    replacement = ImageFile(np.zeros((2, 2)))
    folder["scan_1.tif"] = replacement
    for _ in folder:  # cycles the one-document cache
        pass
    assert folder[1] is replacement and folder.modified == ["scan_1.tif"]
    with pytest.raises(TypeError, match="ImageFile"):
        folder[0] = np.zeros((2, 2))


def test_report_is_frozen():
    report = ConversionReport(converted=[("a", "b")], failed=[("c", "boom")], seconds=1.0)
    assert not report.ok and report.total == 2
    assert str(report).splitlines() == ["2 files: 1 converted, 0 skipped, 1 failed in 1 s", "  failed c: boom"]
    with pytest.raises(AttributeError):
        report.seconds = 2.0


# ------------------------------------------------------------------ the worker pool
def _square_or_fail(x):
    if x == "bad":
        raise ValueError("bad input")
    if x == "unpicklable":

        class LocalError(Exception):
            pass

        raise LocalError("local class")
    if x == "lambda":
        return lambda: 1
    if x == "sleep":
        time.sleep(60)
    return x * x


class TwoPartError(Exception):
    """An exception whose __init__ takes other arguments than it keeps in args (pickle cannot re-create it)."""

    def __init__(self, filename, reason):
        self.filename = filename
        super().__init__(f"{filename}: {reason}")


def _raise_two_part(x):
    raise TwoPartError(f"file{x}", "broken")


def test_pool_rebuilds_exceptions_pickle_cannot(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with WorkerPool(_raise_two_part, 1) as pool:
        [outcome] = pool.run([7])
    assert type(outcome.error) is TwoPartError and str(outcome.error) == "file7: broken"
    assert outcome.error.filename == "file7"
    with WorkerPool(stonerimg.load, 1) as pool:
        [outcome] = pool.run([tmp_path / "bad.npy"])
    assert type(outcome.error) is stonerimg.FormatError
    assert str(outcome.error).startswith(f"cannot load '{tmp_path / 'bad.npy'}': ")


def _fail_to_unpickle():
    raise ValueError("this item cannot be unpickled")


class Unloadable:
    def __reduce__(self):
        return _fail_to_unpickle, ()


def test_pool_reports_an_item_the_worker_cannot_unpickle():
    with WorkerPool(abs, 1) as pool:
        outcomes = list(pool.run([-1, Unloadable(), -2]))
        assert len(pool.pids) == 1
    assert [o.value for o in outcomes] == [1, None, 2]
    assert isinstance(outcomes[1].error, ValueError) and "cannot be unpickled" in str(outcomes[1].error)


def _gone(pid: int) -> bool:
    """True when the process has exited and been reaped (no zombie left)."""
    return not Path(f"/proc/{pid}").exists() if Path("/proc").is_dir() else True


def test_pool_results_in_order_with_errors():
    with WorkerPool(_square_or_fail, 2) as pool:
        outcomes = list(pool.run([3, "bad", 4, "unpicklable", "lambda", 5]))
        pids = pool.pids
    assert [o.index for o in outcomes] == list(range(6))
    assert [o.value for o in outcomes if o.ok] == [9, 16, 25]
    assert isinstance(outcomes[1].error, ValueError) and "bad input" in str(outcomes[1].error)
    assert "_square_or_fail" in str(outcomes[1].error.__cause__)  # the worker's traceback
    assert type(outcomes[3].error) is RuntimeError and "LocalError: local class" in str(outcomes[3].error)
    assert isinstance(outcomes[4].error, TypeError) and "cannot be sent back" in str(outcomes[4].error)
    assert all(_gone(pid) for pid in pids)
    assert Outcome(0, 1).ok and not Outcome(0, error=ValueError()).ok


def test_pool_replaces_hung_and_dead_workers():
    with WorkerPool(_square_or_fail, 1) as pool:
        first = pool.pids
        outcomes = list(pool.run([2, "sleep", 3], timeout=0.5))
        assert pool.pids != first  # the hung worker was replaced
    assert [o.value for o in outcomes] == [4, None, 9]
    assert isinstance(outcomes[1].error, TaskTimeoutError) and str(outcomes[1].error) == "timed out after 0.5 s"
    assert all(_gone(pid) for pid in first)

    def suicide(x):
        if x == 1:
            faulthandler.disable()  # pytest's crash report would be printed by the worker
            os.kill(os.getpid(), signal.SIGSEGV)
        return x

    with WorkerPool(suicide, 2) as pool:
        outcomes = list(pool.run(range(4)))
    assert [o.value for o in outcomes if o.ok] == [0, 2, 3]
    assert isinstance(outcomes[1].error, WorkerCrashedError)
    assert str(outcomes[1].error) == f"worker crashed (signal {signal.SIGSEGV.value})"


def test_pool_shuts_down_cleanly_and_can_be_reused():
    pool = WorkerPool(_square_or_fail, 2)
    assert [o.value for o in pool.run([1, 2, 3])] == [1, 4, 9]
    assert [o.value for o in pool.run([4])] == [16]  # the same long-lived workers
    pids = pool.pids
    assert len(pids) == 2 and all(not _gone(pid) for pid in pids)
    pool.close()
    assert all(_gone(pid) for pid in pids)
    assert multiprocessing.active_children() == []
    with pytest.raises(RuntimeError, match="closed"):
        list(pool.run([1]))


def test_pool_stopped_early_kills_its_workers():
    pool = WorkerPool(_square_or_fail, 2)
    run = pool.run([1, "sleep", "sleep", 2])
    assert next(run).value == 1
    pids = pool.pids
    run.close()  # the caller stops iterating
    assert all(_gone(pid) for pid in pids) and pool.pids == []
    pool.close()


def test_keyboard_interrupt_terminates_workers():
    pool = WorkerPool(_square_or_fail, 2)
    seen = []

    def interrupt():
        seen.extend(pool.pids)
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: to the process, not to this thread

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(pool.run(["sleep", "sleep", "sleep"]))
    finally:
        timer.cancel()
    assert len(seen) == 2 and all(_gone(pid) for pid in seen)
    assert multiprocessing.active_children() == []


def test_pool_with_spawn_runs_importable_functions():
    context = multiprocessing.get_context("spawn")
    with WorkerPool(operator.neg, 1, context=context) as pool:
        assert [o.value for o in pool.run([1, 2])] == [-1, -2]
    with pytest.raises(TypeError, match="func"):
        WorkerPool(lambda x: x, 1, context=context)._spawn()


def test_pool_checks_its_arguments():
    with pytest.raises(ValueError, match="workers"):
        WorkerPool(abs, 0)
    with pytest.raises(TypeError, match="func"):
        WorkerPool(3, 1)
    with WorkerPool(abs, 1) as pool, pytest.raises(ValueError, match="timeout"):
        list(pool.run([1], timeout=-1))


def test_exceptions_survive_pickling():
    error = TaskTimeoutError("timed out after 1 s")
    assert str(pickle.loads(pickle.dumps(error))) == "timed out after 1 s"


def test_importing_the_folder_stays_light():
    heavy = ("tqdm", "dask", "distributed", "pandas", "h5py", "tifffile", "matplotlib", "scipy", "skimage")
    code = (
        f"import sys, stonerimg.folder, stonerimg._workers\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------ dask (last: it starts threads)
def _mean_of(document):
    return float(np.asarray(document.data, dtype=np.float64).mean())


@pytest.fixture(scope="module")
def dask_client():
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        pytest.skip("dask.distributed is not installed (pip install stonerimg[dask])")
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_map_equals_the_local_run(dask_client, folder, kerr_dir):
    assert folder.map(_mean_of, client=dask_client) == folder.map(_mean_of)
    kerr = ImageFolder(kerr_dir / "fields", "*.png")
    assert kerr.map(lambda d: d["field"], client=dask_client) == kerr.map(lambda d: d["field"])
    with pytest.raises(ValueError, match="workers and client"):
        folder.map(_mean_of, workers=2, client=dask_client)


def test_dask_map_reports_errors_with_the_file(dask_client, broken):
    collected = ImageFolder(broken, "*.npy").map(_mean_of, client=dask_client, errors="collect")
    assert isinstance(collected[3], stonerimg.FormatError) and "f2_corrupt.npy" in str(collected[3])
    assert collected[4] == 3.0


def test_dask_convert_equals_the_local_run(dask_client, folder, tmp_path):
    part = folder[::10]
    local = part.convert(tmp_path / "local", "tiff")
    remote = part.convert(tmp_path / "dask", "tiff", client=dask_client)
    assert remote.ok and len(remote.converted) == len(local.converted) == 20
    for (_, a), (_, b) in zip(local.converted, remote.converted, strict=True):
        assert b.relative_to(tmp_path / "dask") == a.relative_to(tmp_path / "local")
        np.testing.assert_array_equal(tifffile.imread(a), tifffile.imread(b))
        assert stonerimg.load(a).metadata == stonerimg.load(b).metadata
