"""Frame sources: SimulatedCamera, ArraySource, FileStack, DirectoryWatcher."""

import io
import os
import threading
import time

import numpy as np
import pytest
import tifffile

from stonerimg import ImageArray
from stonerimg.live import ArraySource, DirectoryWatcher, FileStack, SimulatedCamera


def scene(shape, x, y):
    """The noiseless SimulatedCamera frame, written out from its documented formula."""
    rows, cols = shape
    yy, xx = np.mgrid[:rows, :cols]
    k = 2 * np.pi / 8.5
    value = 1000 + 100 * (np.cos(k * xx) + np.cos(k * yy)) + 3000 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 32)
    return np.rint(np.clip(value, 0, 65535))


def test_simulated_camera_frames_match_the_documented_scene():
    camera = SimulatedCamera((48, 64), fps=None, drift=(1.5, -0.5), noise=0, frames=4)
    frames = list(camera)
    assert [f["frame"] for f in frames] == [0, 1, 2, 3]
    for k, frame in enumerate(frames):
        assert frame.dtype == np.uint16 and frame.shape == (48, 64) and not frame.flags.writeable
        x, y = 31.5 + 1.5 * k, 23.5 - 0.5 * k
        assert (frame["particle.x"], frame["particle.y"]) == (x, y)
        # the particle is drawn in a patch of +-4 sigma: outside it the Gaussian is below 1 count
        assert np.abs(frame.data.astype(float) - scene((48, 64), x, y)).max() <= 1


def test_simulated_camera_noise_and_clock():
    camera = SimulatedCamera((64, 64), fps=200, noise=20, frames=10)
    quiet = SimulatedCamera((64, 64), fps=None, noise=0)
    start = time.monotonic()
    frames = list(camera)
    assert time.monotonic() - start >= 9 / 200  # paced: never faster than the frame rate
    np.testing.assert_allclose(np.diff([f["time"] for f in frames]), 1 / 200, atol=1e-6)
    residual = frames[5].data.astype(float) - quiet.render(5).astype(float)
    assert 17 < residual.std() < 23


def test_simulated_camera_skips_frames_a_slow_reader_missed():
    camera = SimulatedCamera((16, 16), fps=100, noise=0, frames=40, buffer=0)
    numbers = []
    for frame in camera:
        numbers.append(frame["frame"])
        time.sleep(0.05)  # five frame periods
    assert camera.skipped > 0
    assert numbers == sorted(set(numbers)) and len(numbers) + camera.skipped == 40  # every number accounted for


def test_simulated_camera_rejects_bad_arguments():
    with pytest.raises(ValueError, match="fps"):
        SimulatedCamera((32, 32), fps=-1)
    with pytest.raises(ValueError, match="noise"):
        SimulatedCamera((32, 32), noise=-2)
    with pytest.raises(ValueError, match="shape"):
        SimulatedCamera((4, 32))


def test_array_source_wraps_without_copying_and_read_only():
    arrays = [np.arange(12.0).reshape(3, 4) + i for i in range(3)]
    image = ImageArray(np.ones((3, 4)), metadata={"sample": "Py"})
    frames = list(ArraySource([*arrays, image]))
    assert [f["frame"] for f in frames] == [0, 1, 2, 3]
    assert frames[3]["sample"] == "Py"
    assert all(np.shares_memory(f.data, a) for f, a in zip(frames[:3], arrays, strict=True))
    assert arrays[0].flags.writeable and not frames[0].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        frames[0][0, 0] = 5
    with pytest.raises(ValueError, match="frame 1"):
        list(ArraySource([np.zeros((2, 2)), np.zeros((2, 2, 2))]))
    with pytest.raises(TypeError, match="iterable"):
        ArraySource(5)


def test_file_stack_replays_a_multipage_tiff(tmp_path):
    pages = np.random.default_rng(0).integers(0, 4000, (3, 8, 10)).astype(np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, pages, photometric="minisblack")
    frames = list(FileStack(path, rate=100))
    assert len(frames) == 3
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.data, pages[i])
        assert frame["frame"] == i
    np.testing.assert_allclose(np.diff([f["time"] for f in frames]), 0.01, atol=1e-6)

    looping = FileStack(pages, loop=True)
    seen = []
    for frame in looping:
        seen.append(frame["frame"])
        if len(seen) == 7:
            looping.close()
    assert seen == list(range(7))
    with pytest.raises(ValueError, match="3-D"):
        FileStack(np.zeros((4, 4)))


# ------------------------------------------------------------------------ DirectoryWatcher
def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


class Collector:
    """Iterate a source in a thread and keep what it yields."""

    def __init__(self, source):
        self.source = source
        self.frames = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for frame in self.source:
                self.frames.append(frame)
        except Exception as err:  # noqa: BLE001 - the test looks at it
            self.error = err

    def wait_for(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.frames) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.frames) >= n

    def close(self):
        self.source.close()
        self.thread.join(5)
        assert not self.thread.is_alive()


def test_directory_watcher_waits_for_a_half_written_file(tmp_path):
    old = np.full((4, 5), 7.0)
    np.save(tmp_path / "old.npy", old)
    watcher = DirectoryWatcher(tmp_path, "*.npy", poll=0.02)
    collector = Collector(watcher)
    try:
        time.sleep(0.1)
        first = np.arange(20.0).reshape(4, 5)
        np.save(tmp_path / "a.npy", first)
        assert collector.wait_for(1)
        # a file written in two halves, with a pause of many polls between them
        second = np.arange(600.0).reshape(20, 30)
        blob = npy_bytes(second)
        with open(tmp_path / "b.npy", "wb") as handle:
            handle.write(blob[: len(blob) // 2])
            handle.flush()
            time.sleep(0.3)
            assert len(collector.frames) == 1 and collector.thread.is_alive()
            assert str(tmp_path / "b.npy") in watcher.rejected  # tried once it stopped changing, not yielded
            handle.write(blob[len(blob) // 2 :])
        assert collector.wait_for(2)
        (tmp_path / ".hidden.npy").write_bytes(npy_bytes(first))
        (tmp_path / "other.txt").write_text("not an image")
        time.sleep(0.2)
    finally:
        collector.close()
    assert collector.error is None
    assert len(collector.frames) == 2  # not the old file, the hidden one or the .txt
    np.testing.assert_array_equal(collector.frames[0].data, first)
    np.testing.assert_array_equal(collector.frames[1].data, second)
    assert [f["frame"] for f in collector.frames] == [0, 1]
    assert collector.frames[1].filename == str(tmp_path / "b.npy")
    assert collector.frames[1]["time"] == pytest.approx(os.stat(tmp_path / "b.npy").st_mtime)
    assert watcher.rejected == {}


def test_directory_watcher_existing_files_oldest_first_and_timeout(tmp_path):
    for i, name in enumerate(["z.npy", "a.npy", "m.npy"]):
        np.save(tmp_path / name, np.full((2, 2), float(i)))
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    watcher = DirectoryWatcher(tmp_path, "*.npy", poll=0.02, existing=True, timeout=0.3)
    frames = list(watcher)  # ends after 0.3 s without a new file
    assert [float(f.data[0, 0]) for f in frames] == [0.0, 1.0, 2.0]
    assert list(watcher.rejected) == [str(tmp_path / "broken.npy")]


def test_directory_watcher_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        DirectoryWatcher(tmp_path / "missing")
    with pytest.raises(ValueError, match="poll"):
        DirectoryWatcher(tmp_path, poll=0)
