"""Frame sources: iterables of :class:`~stonerimg.ImageArray` frames stamped with a frame number and a time.

Every source yields 2-D frames whose metadata holds ``"frame"`` (an int, counting from 0
in the order the source produced them; a gap means the source itself lost frames) and
``"time"`` (seconds since the epoch: when the frame was taken, as well as the source
knows it).  A source can be closed from another thread (:meth:`FrameSource.close`): a
source that is waiting for its next frame wakes up and ends its iteration.  A
:class:`~stonerimg.live.Session` reads a source in its own thread; any other iterable of
arrays can be used through :class:`ArraySource`.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..array import ImageArray

__all__ = ["ArraySource", "DirectoryWatcher", "FileStack", "FrameSource", "SimulatedCamera", "make_frame"]

logger = logging.getLogger(__name__)


def make_frame(item, number: int, when: float | None = None) -> ImageArray:
    """Wrap one item as a read-only 2-D frame with ``"frame"`` and ``"time"`` in its metadata.

    Parameters
    ----------
    item : array_like, ImageArray or ImageFile
        The pixels (an ImageArray's or ImageFile's metadata, mask and file name are kept).
    number : int
        The frame number.
    when : float, optional
        The frame's time in seconds since the epoch; default the item's own ``"time"``
        item if it has one, else now.

    Returns
    -------
    ImageArray
        A new image on a **read-only view** of the item's pixels (nothing is copied): a
        processor can read the frame but cannot change it, nor the array it came from.

    Raises
    ------
    ValueError
        If the item is not a 2-D image of numbers.
    """
    image = item if isinstance(item, ImageArray) else ImageArray(item)
    if image.ndim != 2 or image.dtype.kind not in "biufc":
        raise ValueError(f"frame {number}: a frame must be a 2-D image of numbers, not {image.shape} {image.dtype}")
    data = image.data.view()
    data.flags.writeable = False
    mask = image._mask
    if mask is not np.ma.nomask:
        mask = mask.view()
        mask.flags.writeable = False
    frame = image._derive(data, keep_mask=False)
    if mask is not np.ma.nomask:
        frame._set_mask_fast(mask)
    md = frame._metadata
    md["frame"] = int(number)
    if when is not None:
        md["time"] = float(when)
    elif "time" not in md:
        md["time"] = time.time()
    return frame


class FrameSource:
    """Base class of the frame sources: an iterable that another thread can close.

    Attributes
    ----------
    skipped : int
        Frames the source itself lost (e.g. a camera read too late); 0 for most sources.
    """

    def __init__(self):
        self._closed = threading.Event()
        self.skipped = 0

    def __iter__(self) -> Iterator[ImageArray]:
        raise NotImplementedError

    def close(self) -> None:
        """Ask the source to end its iteration (safe from any thread)."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    def _sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return False if the source was closed meanwhile."""
        if seconds > 0:
            return not self._closed.wait(seconds)
        return not self._closed.is_set()

    def describe(self) -> str:
        """One line saying what the source is."""
        return type(self).__name__


def _check_rate(rate, name: str = "rate") -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{name}: must be a positive number of frames per second or None, not {rate!r}")
    return float(rate)


class _Pacer:
    """Wait until frame ``k`` is due at ``rate`` frames per second (no wait without a rate)."""

    def __init__(self, source: FrameSource, rate: float | None):
        self.source = source
        self.period = None if rate is None else 1.0 / rate
        self.start_wall = time.time()
        self.start = time.monotonic()

    def due(self, k: int) -> float:
        """Monotonic time at which frame ``k`` is due."""
        return self.start if self.period is None else self.start + k * self.period

    def wait(self, k: int) -> bool:
        """Sleep until frame ``k`` is due; False if the source was closed."""
        return self.source._sleep(self.due(k) - time.monotonic())

    def wall(self, k: int) -> float:
        """Wall-clock time of frame ``k`` on the source's own clock (now, without a rate)."""
        return time.time() if self.period is None else self.start_wall + k * self.period


class ArraySource(FrameSource):
    """Frames from any iterable of arrays, images or :class:`~stonerimg.ImageFile` objects.

    Parameters
    ----------
    frames : iterable
        The frames (a list, a 3-D array, a generator, ...).  A generator is read once.
    rate : float, optional
        Frames per second to release them at; default as fast as they come.

    Examples
    --------
    >>> import numpy as np
    >>> frames = list(ArraySource(np.zeros((3, 4, 5), dtype=np.uint16)))
    >>> [f["frame"] for f in frames], frames[0].shape, frames[0].flags.writeable
    ([0, 1, 2], (4, 5), False)
    """

    def __init__(self, frames: Iterable, rate: float | None = None):
        super().__init__()
        if isinstance(frames, (str, bytes, os.PathLike)) or not isinstance(frames, Iterable):
            raise TypeError(f"frames: must be an iterable of 2-D arrays or images, not {type(frames).__name__}")
        self.frames = frames
        self.rate = _check_rate(rate)

    def __iter__(self) -> Iterator[ImageArray]:
        pacer = _Pacer(self, self.rate)
        for k, item in enumerate(self.frames):
            if not pacer.wait(k):
                return
            if hasattr(item, "image") and isinstance(item.image, ImageArray):  # an ImageFile
                item = item.image
            has_time = isinstance(item, ImageArray) and "time" in item._metadata
            yield make_frame(item, k, None if has_time and self.rate is None else pacer.wall(k))

    def describe(self) -> str:  # noqa: D102
        return f"ArraySource({type(self.frames).__name__}, rate={self.rate})"


class FileStack(FrameSource):
    """Replay the frames of a stack (a multi-page TIFF, an ImageStack or a 3-D array) at a given rate.

    Parameters
    ----------
    source : str, os.PathLike, ImageStack or array_like
        A multi-page TIFF file (read with :meth:`ImageStack.from_tiff`), any other file
        that loads as a 3-D image, an :class:`~stonerimg.ImageStack` or a 3-D array.
    rate : float, optional
        Frames per second; default as fast as they are read.
    loop : bool, default False
        Start again at the first frame after the last (until closed).

    Notes
    -----
    Each frame is a read-only view of the stack's buffer with that frame's metadata
    (the shared metadata with the frame's own laid over it).
    """

    def __init__(self, source, rate: float | None = None, loop: bool = False):
        super().__init__()
        from ..stack import ImageStack

        self.name = "array"
        if isinstance(source, (str, os.PathLike)):
            path = Path(os.fspath(source))
            self.name = str(path)
            if path.suffix.lower() in (".tif", ".tiff"):
                source = ImageStack.from_tiff(path)
            else:
                from ..formats import load

                loaded = load(path).image
                if loaded.ndim == 2:
                    loaded = loaded[None]
                source = ImageStack(loaded)
        elif not isinstance(source, ImageStack):
            array = source if isinstance(source, np.ndarray) else np.asarray(source)
            if array.ndim != 3:
                raise ValueError(f"source: a stack of frames must be 3-D (n, y, x), not of shape {array.shape}")
            source = ImageStack(array)
        if len(source) == 0:
            raise ValueError(f"source: {self.name} holds no frames")
        self.stack = source
        self.rate = _check_rate(rate)
        self.loop = bool(loop)

    def __iter__(self) -> Iterator[ImageArray]:
        pacer = _Pacer(self, self.rate)
        k = 0
        while True:
            for i in range(len(self.stack)):
                if not pacer.wait(k):
                    return
                yield make_frame(self.stack[i].image, k, pacer.wall(k))
                k += 1
            if not self.loop:
                return

    def describe(self) -> str:  # noqa: D102
        return f"FileStack({self.name}, {len(self.stack)} frames, rate={self.rate}, loop={self.loop})"


class SimulatedCamera(FrameSource):
    """A camera that makes frames of a drifting particle on a lattice, for demos, tests and benchmarks.

    Parameters
    ----------
    shape : (int, int)
        Frame shape ``(rows, cols)``.
    fps : float or None, default 50
        Frames per second, kept on the wall clock; ``None`` makes frames as fast as they are read.
    drift : (float, float), default (0, 0)
        Motion of the particle in pixels per frame, ``(dx, dy)`` (it wraps round the frame).
    noise : float, default 10
        Standard deviation of the Gaussian noise, in counts.
    dtype : dtype, default uint16
        Pixel type (integer values are clipped to its range).
    frames : int, optional
        Stop after this many frame numbers (including any skipped); default never.
    seed : int, default 0
        Seed of the noise.
    start : (float, float), optional
        ``(x, y)`` of the particle in frame 0; default the middle of the frame.
    buffer : int, default 4
        Frames the camera holds for a late reader (like a driver's ring buffer).

    Notes
    -----
    A frame is ``background + lattice + particle + noise``: a background of 1000 counts,
    a square lattice of period 8.5 px and amplitude 200 (which puts Bragg-like peaks in
    the FFT), a Gaussian particle of peak 3000 counts and sigma 4 px whose true position
    is in the metadata (``"particle.x"``, ``"particle.y"``), and noise taken from a bank of
    precomputed fields at random offsets, so that making a frame costs about a
    millisecond and never slows a benchmark down.  The metadata ``"time"`` is the
    camera's clock, ``start + frame / fps``.  A reader that falls behind gets the frames
    held in the buffer in a burst; when it falls more than ``buffer`` frames behind, the
    camera does what a real one does: the oldest frames are lost (they are counted in
    :attr:`skipped` and leave gaps in the frame numbers).

    Examples
    --------
    >>> camera = SimulatedCamera((64, 80), fps=None, drift=(1.0, 0.5), frames=3)
    >>> [(f["frame"], f["particle.x"], f["particle.y"]) for f in camera]
    [(0, 39.5, 31.5), (1, 40.5, 32.0), (2, 41.5, 32.5)]
    """

    #: Background level, lattice amplitude and period, particle peak and sigma (counts, pixels).
    BACKGROUND, LATTICE, PERIOD, PEAK, SIGMA = 1000.0, 200.0, 8.5, 3000.0, 4.0
    #: Number of precomputed noise fields.
    NOISE_BANK = 4

    def __init__(
        self,
        shape=(512, 512),
        fps: float | None = 50.0,
        *,
        drift=(0.0, 0.0),
        noise: float = 10.0,
        dtype=np.uint16,
        frames: int | None = None,
        seed: int = 0,
        start=None,
        buffer: int = 4,
    ):
        super().__init__()
        try:
            rows, cols = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"shape: must be (rows, cols), not {shape!r}") from None
        if rows < 8 or cols < 8:
            raise ValueError(f"shape: frames must be at least 8 x 8 pixels, not {(rows, cols)}")
        self.shape = (rows, cols)
        self.fps = _check_rate(fps, "fps")
        try:
            self.drift = tuple(float(d) for d in drift)
        except (TypeError, ValueError):
            raise TypeError(f"drift: must be (dx, dy) in pixels per frame, not {drift!r}") from None
        if len(self.drift) != 2 or not all(math.isfinite(d) for d in self.drift):
            raise ValueError(f"drift: must be two finite numbers (dx, dy), not {drift!r}")
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
            raise ValueError(f"noise: must be a non-negative number of counts, not {noise!r}")
        self.noise = float(noise)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "uif":
            raise TypeError(f"dtype: must be an integer or float type, not {self.dtype}")
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 0):
            raise ValueError(f"frames: must be a non-negative int or None, not {frames!r}")
        self.frames = frames
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
            raise ValueError(f"buffer: must be a non-negative int (frames), not {buffer!r}")
        self.buffer = buffer
        self.seed = seed
        self.start = ((cols - 1) / 2, (rows - 1) / 2) if start is None else tuple(float(s) for s in start)
        y, x = np.ogrid[:rows, :cols]
        k = 2 * np.pi / self.PERIOD
        lattice = self.BACKGROUND + (self.LATTICE / 2) * (np.cos(k * x) + np.cos(k * y))
        self._base = lattice.astype(np.float32)
        self._bank = None
        self._pad = 32

    def position(self, number: int) -> tuple[float, float]:
        """Return the true ``(x, y)`` of the particle in frame ``number`` (pixels)."""
        rows, cols = self.shape
        return ((self.start[0] + number * self.drift[0]) % cols, (self.start[1] + number * self.drift[1]) % rows)

    def _noise_bank(self, rng) -> np.ndarray:
        rows, cols = self.shape
        shape = (self.NOISE_BANK, rows + self._pad, cols + self._pad)
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(self.noise)).astype(np.float32)

    def render(self, number: int, rng=None) -> np.ndarray:
        """Make the pixels of frame ``number`` (``rng`` picks the noise; default the camera's seed)."""
        rows, cols = self.shape
        out = self._base.copy()
        if self.noise:
            if self._bank is None:
                self._bank = self._noise_bank(np.random.default_rng(self.seed))
            rng = rng if rng is not None else np.random.default_rng([self.seed, number])
            b, dy, dx = (int(v) for v in rng.integers((self.NOISE_BANK, self._pad, self._pad)))
            out += self._bank[b, dy : dy + rows, dx : dx + cols]
        px, py = self.position(number)
        half = int(math.ceil(4 * self.SIGMA))
        x0, x1 = max(0, int(px) - half), min(cols, int(px) + half + 2)
        y0, y1 = max(0, int(py) - half), min(rows, int(py) + half + 2)
        gx = np.exp(-((np.arange(x0, x1) - px) ** 2) / (2 * self.SIGMA**2))
        gy = np.exp(-((np.arange(y0, y1) - py) ** 2) / (2 * self.SIGMA**2))
        out[y0:y1, x0:x1] += (self.PEAK * np.outer(gy, gx)).astype(np.float32)
        if self.dtype.kind in "ui":
            info = np.iinfo(self.dtype)
            np.clip(out, info.min, info.max, out=out)
            np.rint(out, out=out)
        return out.astype(self.dtype, copy=False)

    def __iter__(self) -> Iterator[ImageArray]:
        if self.noise and self._bank is None:
            self._bank = self._noise_bank(np.random.default_rng(self.seed))
        rng = np.random.default_rng(self.seed)
        pacer = _Pacer(self, self.fps)
        k = 0
        while self.frames is None or k < self.frames:
            if not pacer.wait(k):
                return
            if self.fps is not None:
                exposing = int((time.monotonic() - pacer.start) * self.fps)
                if exposing - k > self.buffer:  # the camera's buffer overflowed: the oldest frames are gone
                    resume = exposing - self.buffer if self.frames is None else min(exposing - self.buffer, self.frames)
                    self.skipped += resume - k
                    k = resume
                    if self.frames is not None and k >= self.frames:
                        return
            px, py = self.position(k)
            frame = make_frame(self.render(k, rng), k, pacer.wall(k))
            frame._metadata.update({"particle.x": px, "particle.y": py, "instrument": "simulated camera"})
            yield frame
            k += 1

    def describe(self) -> str:  # noqa: D102
        rows, cols = self.shape
        return f"SimulatedCamera({cols} x {rows} {self.dtype}, fps={self.fps}, drift={self.drift}, noise={self.noise})"


class DirectoryWatcher(FrameSource):
    """Frames from image files as they appear in a folder, each once it is completely written.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to watch (it must exist).
    pattern : str, default "*"
        Shell pattern the file names must match (``fnmatch``, case-sensitive); names
        starting with ``"."`` are always ignored (temporary files, including those
        stonerimg's own savers write before renaming).
    poll : float, default 0.1
        Seconds between two looks at the folder.
    existing : bool, default False
        Also yield the files already there when the iteration starts (oldest first).
    timeout : float, optional
        End the iteration after this many seconds without a new frame; default never
        (until :meth:`close`).

    Attributes
    ----------
    rejected : dict
        ``{path: reason}`` of the files that stopped changing but could not be loaded
        (still unreadable); such a file is tried again if it changes.

    Notes
    -----
    A file is yielded when its size and modification time have not changed between
    two looks at the folder **and** it loads without error (through the format
    registry, read-only): a file still being written is neither yielded early nor
    allowed to stop the watcher.  A file that is later rewritten is yielded again.
    The frame's ``"time"`` is the file's modification time; files that become ready in
    the same look are yielded oldest first.  A file that loads as more than one 2-D
    frame is rejected (replay it with :class:`FileStack`).
    """

    def __init__(
        self,
        path,
        pattern: str = "*",
        *,
        poll: float = 0.1,
        existing: bool = False,
        timeout: float | None = None,
    ):
        super().__init__()
        self.path = Path(os.fspath(path))
        if not self.path.is_dir():
            raise FileNotFoundError(2, "The folder to watch does not exist", str(self.path))
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"pattern: must be a non-empty shell pattern such as '*.tif', not {pattern!r}")
        self.pattern = pattern
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not (math.isfinite(poll) and poll > 0):
            raise ValueError(f"poll: must be a positive number of seconds, not {poll!r}")
        self.poll = float(poll)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
        ):
            raise ValueError(f"timeout: must be a positive number of seconds or None, not {timeout!r}")
        self.timeout = timeout
        self.existing = bool(existing)
        self.rejected: dict[str, str] = {}

    def _scan(self) -> dict[str, tuple[int, int]]:
        """``{path: (size, mtime_ns)}`` of the matching regular files."""
        found = {}
        try:
            entries = list(os.scandir(self.path))
        except OSError as err:
            logger.warning("cannot list %s: %s", self.path, err)
            return found
        for entry in entries:
            if entry.name.startswith(".") or not fnmatch.fnmatchcase(entry.name, self.pattern):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:  # removed between the listing and the stat
                continue
            found[entry.path] = (st.st_size, st.st_mtime_ns)
        return found

    def _load(self, path: str) -> ImageArray:
        from ..formats import load

        image = load(path).image
        if image.ndim != 2:
            raise ValueError(f"it holds an image of shape {image.shape}, not one 2-D frame (use FileStack)")
        return image

    def __iter__(self) -> Iterator[ImageArray]:
        done: dict[str, tuple[int, int]] = {} if self.existing else self._scan()
        last: dict[str, tuple[int, int]] = {}  # what each candidate looked like at the previous look
        failed: dict[str, tuple[int, int]] = {}  # stat of the files that would not load
        number = 0
        idle_since = time.monotonic()
        while not self.closed:
            now = self._scan()
            ready = []
            for path, stat in now.items():
                if done.get(path) == stat or failed.get(path) == stat:
                    continue
                if last.get(path) == stat and stat[0] > 0:
                    ready.append((stat[1], path, stat))
            last = {p: s for p, s in now.items() if done.get(p) != s}
            for _, path, stat in sorted(ready):
                try:
                    image = self._load(path)
                except Exception as err:  # noqa: BLE001 - a file being written may fail in any loader
                    failed[path] = stat
                    self.rejected[path] = str(err)
                    logger.info("%s is not (yet) readable: %s", path, err)
                    continue
                failed.pop(path, None)
                self.rejected.pop(path, None)
                done[path] = stat
                yield make_frame(image, number, stat[1] / 1e9)
                number += 1
                idle_since = time.monotonic()
            if self.timeout is not None and time.monotonic() - idle_since >= self.timeout:
                return
            if not self._sleep(self.poll):
                return

    def describe(self) -> str:  # noqa: D102
        return f"DirectoryWatcher({self.path}, {self.pattern!r}, poll={self.poll})"
