"""Session: latest-wins mailboxes, slow and fast processors, errors, ROI changes, stop and processes."""

import io
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from stonerimg import ImageFile
from stonerimg.live import ROI, ArraySource, DirectoryWatcher, Processor, Session, SimulatedCamera


def slow(seconds):
    def func(frame):
        time.sleep(seconds)
        return float(frame.data.mean())

    return func


def fails_on_multiples_of_three(frame):
    if frame["frame"] % 3 == 0:
        raise RuntimeError(f"bad frame {frame['frame']}")
    return float(frame["frame"])


def check_accounting(session, stats):
    """Every frame read is done, dropped or failed for every processor."""
    for p in stats.processors.values():
        assert p.done + p.dropped + p.errors == stats.frames, p


def test_camera_slow_fast_and_raising_processors():
    fps, duration = 50, 1.5
    camera = SimulatedCamera((64, 64), fps=fps, noise=5)
    processors = [
        Processor(slow(0.2), name="slow"),
        "mean",
        Processor(fails_on_multiples_of_three, name="flaky"),
    ]
    with Session(camera, processors) as session:
        time.sleep(duration)
    stats = session.stats()
    check_accounting(session, stats)
    # the source was never held up by the slow processor: it delivered at its own pace
    assert stats.frames >= 0.5 * fps * duration
    assert 0.5 / fps < stats.interval_median < 2 / fps
    assert camera.skipped <= 0.25 * stats.frames
    fast, slow_p, flaky = stats.processors["mean"], stats.processors["slow"], stats.processors["flaky"]
    assert fast.done >= 0.8 * stats.frames
    assert slow_p.dropped > 0 and slow_p.done <= duration / 0.2 + 2
    # the raising processor failed on its bad frames only and carried on with the others
    assert flaky.errors > 0 and flaky.done > 0
    errors = [e for e in session.errors if e.processor == "flaky"]
    assert len(errors) == flaky.errors
    assert all(e.frame % 3 == 0 and f"bad frame {e.frame}" in e.error for e in errors)
    assert all(v % 3 != 0 for v in session["flaky"].column("value"))
    # the fast processor's results are the means of the frames they name
    trace = session["mean"].data()
    assert np.all(np.diff(trace.frame) > 0)
    assert stats.processors["mean"].latency_median <= stats.processors["mean"].latency_p95


def test_directory_watcher_through_a_session(tmp_path):
    watcher = DirectoryWatcher(tmp_path, "*.npy", poll=0.02)
    expected = {}
    with Session(watcher, [Processor(slow(0.3), name="slow"), "mean", "max"]) as session:
        time.sleep(0.1)
        for i in range(10):
            data = np.full((6, 7), float(i)) + np.arange(7)
            if i == 4:  # a half-written file among them
                buffer = io.BytesIO()
                np.save(buffer, data)
                raw = buffer.getvalue()
                with open(tmp_path / "half.npy", "wb") as handle:
                    handle.write(raw[: len(raw) // 2])
                    handle.flush()
                    time.sleep(0.15)
                    handle.write(raw[len(raw) // 2 :])
                expected[str(tmp_path / "half.npy")] = data.mean()
            else:
                np.save(tmp_path / f"f{i}.npy", data)
                expected[str(tmp_path / f"f{i}.npy")] = data.mean()
            time.sleep(0.06)
        deadline = time.monotonic() + 5
        while session.stats().frames < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
    stats = session.stats()
    assert stats.frames == 10 and stats.source_error is None  # the half-written file once, when complete
    check_accounting(session, stats)
    assert stats.processors["mean"].done >= 8
    assert stats.processors["slow"].dropped > 0
    means = session["mean"].column("value")
    assert set(np.round(means, 9)) <= set(np.round(list(expected.values()), 9))


def test_drop_false_processes_every_frame_in_order():
    frames = [np.full((5, 5), float(i)) for i in range(20)]
    session = Session(frames, [Processor(slow(0.005), name="slow"), "max"], drop=False, workers=1)
    stats = session.run()
    assert stats.processors["slow"].done == 20 and stats.processors["slow"].dropped == 0
    np.testing.assert_array_equal(session["slow"].column("value"), np.arange(20.0))
    np.testing.assert_array_equal(session["max"].data().frame, np.arange(20))


def test_roi_changes_while_running_take_effect_whole():
    camera = SimulatedCamera((60, 80), fps=100, noise=0)
    shape = Processor(lambda f: f.shape[0] * 1000 + f.shape[1], name="shape")
    roi = ROI(0, 0, 40, 30)
    with Session(camera, [shape], roi=roi) as session:
        time.sleep(0.3)
        roi.set(10, 5, 20, 10)
        time.sleep(0.3)
        session.roi = (0, 0, 10, 10)  # or a new ROI altogether
        time.sleep(0.3)
    values = session["shape"].column("value")
    assert set(values) == {30040, 10020, 10010}  # never a mixture of two settings
    first, second = int(np.argmax(values == 10020)), int(np.argmax(values == 10010))
    assert 0 < first < second
    assert np.all(values[first:second] == 10020) and np.all(values[second:] == 10010)


def test_processors_get_read_only_frames():
    data = [np.ones((4, 4))]

    def scribble(frame):
        frame[0, 0] = 5

    def smooth_in_place(frame):  # ImageFile methods act in place when they can: not on a read-only frame
        return ImageFile(frame).filter_image(1.0).image

    processors = [Processor(scribble, name="scribble"), "mean", Processor(smooth_in_place, "image", name="smooth")]
    session = Session(data, processors, drop=False)
    session.run()
    (error,) = session.errors
    assert "read-only" in error.error and error.frame == 0
    assert data[0][0, 0] == 1.0 and session["mean"].column("value").tolist() == [1.0]
    np.testing.assert_array_equal(data[0], 1.0)
    np.testing.assert_allclose(session["smooth"].image, 1.0)


def test_stop_without_drain_counts_waiting_frames_as_dropped():
    release = threading.Event()

    def blocked(frame):
        release.wait(5)
        return 0.0

    session = Session(SimulatedCamera((16, 16), fps=200), [Processor(blocked, name="blocked")]).start()
    time.sleep(0.2)
    release.set()
    stats = session.stop(drain=False)
    check_accounting(session, stats)
    assert stats.processors["blocked"].dropped > 0
    assert session.stop() == stats and not session.running


def test_session_arguments_and_lifecycle():
    with pytest.raises(ValueError, match="unique"):
        Session([np.ones((2, 2))], ["mean", "mean"])
    with pytest.raises(ValueError, match="at least one"):
        Session([np.ones((2, 2))], [])
    with pytest.raises(ValueError, match="workers"):
        Session([np.ones((2, 2))], ["mean"], workers=0)
    with pytest.raises(ValueError, match="name"):
        Processor(lambda f: 0.0)
    with pytest.raises(ValueError, match="kind"):
        Processor(np.mean, "vector")
    session = Session(ArraySource([np.ones((2, 2))]), ["mean"])
    session.run()
    with pytest.raises(RuntimeError, match="already run"):
        session.start()
    with pytest.raises(KeyError, match="no processor"):
        session["max"]


def test_a_failing_source_is_reported_and_ends_acquisition():
    def frames():
        yield np.ones((3, 3))
        raise OSError("camera unplugged")

    stats = Session(frames(), ["mean"], drop=False).run()
    assert stats.frames == 1 and "camera unplugged" in stats.source_error


def test_processes_run_functions_in_worker_processes():
    frames = [np.full((6, 6), float(i)) for i in range(4)]
    session = Session(
        frames, ["mean", Processor(lambda f: float(os.getpid()), name="pid")], use_processes=True, drop=False
    )
    stats = session.run()
    assert stats.processors["mean"].done == 4
    np.testing.assert_array_equal(session["mean"].column("value"), [0, 1, 2, 3])
    pids = set(session["pid"].column("value"))
    assert len(pids) == 1 and os.getpid() not in pids


def test_importing_live_stays_light():
    code = (
        "import sys, stonerimg.live\n"
        "print(' '.join(m for m in ('matplotlib', 'h5py', 'scipy', 'tifffile') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_with_few_workers_the_quickest_processor_of_a_frame_starts_first():
    calls = []

    def quick(frame):
        calls.append(("quick", frame["frame"]))
        return 0.0

    def heavy(frame):
        calls.append(("heavy", frame["frame"]))
        time.sleep(0.02)
        return 0.0

    processors = [Processor(heavy, name="heavy"), Processor(quick, name="quick")]
    # a frame every 60 ms: each reaches both mailboxes at once, and one worker picks the order
    Session(ArraySource([np.zeros((3, 3))] * 5, rate=1 / 0.06), processors, workers=1).run()
    assert calls[0] == ("heavy", 0)  # frame 0: the order given (nothing is known yet)
    both = [i for i in range(1, 5) if ("quick", i) in calls and ("heavy", i) in calls]
    assert both
    for i in both:  # later frames: the one that took less time goes first
        assert calls.index(("quick", i)) < calls.index(("heavy", i))


def test_a_processor_blocking_in_its_first_call_stops_no_other_and_is_reported():
    """The others go on while one blocks in its first call, and stats() names the one that stalled."""
    release = threading.Event()

    def blocks(view):
        release.wait(30)
        return 0.0

    frames = [np.full((8, 8), float(v)) for v in range(50)]
    session = Session(frames, [Processor(blocks, "scalar", name="blocks"), "mean"], deadline=0.3)
    session.start()
    try:
        session.wait(10)
        deadline = time.monotonic() + 10
        while session.stats().processors["mean"].done == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        stats = session.stats()
        assert stats.processors["blocks"].done == 0
        assert stats.processors["mean"].done > 0  # its first call did not wait for the blocked one's
        assert stats.processors["blocks"].stalled and stats.processors["blocks"].busy_for > 0.3
        assert not stats.processors["mean"].stalled
        assert "blocks 0.0/s" in stats.line() and "STALLED" in stats.line()
        assert "STALLED: no result for" in stats.table()
    finally:
        release.set()
        session.stop()
    assert not session.stats().processors["blocks"].stalled


def test_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline"):
        Session([np.zeros((2, 2))], ["mean"], deadline=0)
