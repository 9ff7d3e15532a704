"""Session.record: the HDF5 file equals the in-memory sinks, appears atomically, loses nothing on stop."""

import time

import h5py
import numpy as np
import pytest
from scipy import ndimage

from stonerimg.live import ROI, Processor, Session, SimulatedCamera


def assert_file_matches_sinks(path, session):
    with h5py.File(path, "r") as h5:
        assert h5.attrs["format"] == "stonerimg.live" and h5.attrs["frames"] == session.stats().frames
        for name, sink in session.sinks.items():
            group = h5[name]
            assert group.attrs["kind"] == sink.kind
            assert group.attrs["done"] == session.stats().processors[name].done
            if sink.kind == "scalar":
                table = group["trace"][:]
                data = sink.data()
                np.testing.assert_array_equal(table["t"], data.t)
                np.testing.assert_array_equal(table["frame"], data.frame)
                for i, column in enumerate(sink.columns):
                    np.testing.assert_array_equal(table[column], data.values[:, i])
            elif sink.kind == "profile":
                data = sink.data()
                np.testing.assert_array_equal(group["rows"][:], data.rows)
                np.testing.assert_array_equal(group["t"][:], data.t)
                np.testing.assert_array_equal(group["frame"][:], data.frame)
            else:
                t, frame, image = sink.latest()
                np.testing.assert_array_equal(group["image"][:], image)
                assert group["image"].attrs["frame"] == frame and group["image"].attrs["t"] == t


def test_recorded_file_equals_the_sinks_and_appears_on_stop(tmp_path):
    path = tmp_path / "run.h5"
    roi = ROI(0, 0, 64, 48)
    flaky = Processor(lambda f: 1 / (f["frame"] % 4), name="flaky")
    session = Session(
        SimulatedCamera((48, 64), fps=200, drift=(0.5, 0.2), frames=120),
        ["mean", "centroid", "radial_profile", "fft", flaky],
        roi=roi,
    )
    recorder = session.record(path, interval=0.05)
    session.start()
    time.sleep(0.2)
    roi.set(8, 8, 32, 24)  # the radial profiles get shorter: the waterfall pads them
    assert not path.exists()
    temporary = [p for p in tmp_path.iterdir() if p.name.startswith(".run.h5.")]
    assert len(temporary) == 1
    with h5py.File(temporary[0], "r") as h5:  # flushed while running
        assert h5["mean/trace"].shape[0] > 0
    session.run()
    assert recorder.error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]
    rows = session["radial_profile"].data().rows
    assert np.isnan(rows[-1, -1]) and not np.isnan(rows[0, -1])
    assert_file_matches_sinks(path, session)
    with h5py.File(path, "r") as h5:
        errors = h5["flaky/errors"][:]
        assert len(errors) == session.stats().processors["flaky"].errors > 0
        assert np.all(errors["frame"] % 4 == 0)
        assert b"ZeroDivisionError" in errors["error"][0]


def test_record_after_start_keeps_earlier_results_and_all_images(tmp_path):
    frames = [np.random.default_rng(i).random((12, 14)) for i in range(8)]
    session = Session(frames, ["max", "gaussian(sigma=1.5)"], drop=False).start()
    time.sleep(0.05)
    session.record(tmp_path / "late.h5", images="all", interval=0.02)
    session.run()
    with h5py.File(tmp_path / "late.h5", "r") as h5:
        # the trace's earlier rows were still in memory: all there
        np.testing.assert_array_equal(h5["max/trace"]["value"], [f.max() for f in frames])
        images = h5["gaussian(sigma=1.5)/images"][:]
        numbers = h5["gaussian(sigma=1.5)/frame"][:]
    # only the latest image is kept in memory: the file has it and every one after the recording began
    assert numbers[-1] == 7 and np.all(np.diff(numbers) == 1) and len(images) == len(numbers)
    for image, number in zip(images, numbers, strict=True):
        np.testing.assert_allclose(image, ndimage.gaussian_filter(frames[number], 1.5), rtol=1e-5)


def test_record_before_start_keeps_every_image(tmp_path):
    frames = [np.random.default_rng(i).random((12, 14)) for i in range(6)]
    session = Session(frames, ["gaussian(sigma=1.5)"], drop=False)
    session.record(tmp_path / "all.h5", images="all", interval=0.02)
    session.run()
    with h5py.File(tmp_path / "all.h5", "r") as h5:
        assert h5["gaussian(sigma=1.5)/frame"][:].tolist() == list(range(6))
        images = h5["gaussian(sigma=1.5)/images"][:]
    for i, frame in enumerate(frames):
        np.testing.assert_allclose(images[i], ndimage.gaussian_filter(frame, 1.5), rtol=1e-5)


def test_record_after_stop_writes_what_the_sinks_hold(tmp_path):
    session = Session([np.full((3, 3), v) for v in (1.0, 5.0)], ["mean", "line_profile"], drop=False)
    session.run()
    session.record(tmp_path / "after.h5")
    assert_file_matches_sinks(tmp_path / "after.h5", session)


def test_record_rejects_bad_arguments(tmp_path):
    session = Session([np.ones((2, 2))], ["mean"])
    with pytest.raises(ValueError, match="images"):
        session.record(tmp_path / "x.h5", images="some")
    with pytest.raises(FileNotFoundError):
        session.record(tmp_path / "missing" / "x.h5")
