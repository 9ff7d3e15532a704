"""``Session``: read a frame source without ever waiting on processing, and run processors on the newest frame.

How it runs
-----------
- One **acquisition thread** iterates the source.  For each frame it puts the frame
  in each processor's one-place mailbox and goes back to the source: it never waits
  for a processor (unless ``drop=False``).  A frame still in a mailbox when the next
  one arrives is replaced and counted as **dropped** for that processor (latest wins),
  so nothing queues up without bound and a slow processor always works on the newest
  frame.
- ``workers`` **worker threads** run the processors: each picks a processor whose
  mailbox holds a frame (the one waiting longest first) and runs it.  A processor
  runs on one frame at a time, so its results arrive in frame order and a function
  with state (a running difference) needs no lock.  NumPy and SciPy release the GIL
  in their loops, so processors run truly in parallel; ``use_processes=True`` runs each
  processor in its own worker process instead (for pure-Python functions that hold the GIL).
- Every frame is shared, read-only, by all processors (see :func:`make_frame`), so no
  frame is copied for a processor and none can change what another sees.
- A processor that raises records the error with its frame number
  (:attr:`Session.errors`, ``stats()``); the others, and the acquisition, go on.
- Processors never wait for one another: the modules the built-in processors and
  the sinks import lazily are imported by :meth:`Session.start` before any worker
  thread runs, so first calls need no lock, and a processor that blocks in its
  first call (or any call) holds up only itself.  One that has not returned within
  ``deadline`` seconds is reported in :meth:`Session.stats` (``stalled``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..array import ImageArray
from .processor import Processor
from .roi import ROI
from .sources import ArraySource, FrameSource, make_frame

__all__ = ["ProcessorError", "ProcessorStats", "Session", "SessionStats"]

logger = logging.getLogger(__name__)

#: Latencies kept per processor for the statistics.
_KEEP = 4096


class ProcessorError(NamedTuple):
    """One failure of a processor: which, on which frame, and why."""

    processor: str
    frame: int
    time: float
    error: str
    traceback: str


@dataclass(frozen=True)
class ProcessorStats:
    """What one processor has done (latencies in seconds, from the frame's arrival to its result in the sink).

    ``busy_for`` is how long its current call has been running (0 when idle);
    ``stalled`` says that is longer than the session's ``deadline``.
    """

    name: str
    kind: str
    done: int
    dropped: int
    errors: int
    rate: float
    latency_median: float
    latency_p95: float
    compute_median: float
    last_error: ProcessorError | None = None
    busy_for: float = 0.0
    stalled: bool = False

    def line(self) -> str:
        """``name rate/s, N dropped[, N errors][, STALLED for N s]``."""
        text = f"{self.name} {self.rate:.1f}/s {self.dropped} dropped"
        text += f" {self.errors} errors" if self.errors else ""
        return text + (f" STALLED for {self.busy_for:.0f} s" if self.stalled else "")


@dataclass(frozen=True)
class SessionStats:
    """A snapshot of a session: the source's frames and each processor's :class:`ProcessorStats`.

    Attributes
    ----------
    running : bool
        Whether the session was running.
    elapsed : float
        Seconds since the start (until the stop, once stopped).
    frames : int
        Frames read from the source.
    rate : float
        Frames per second read.
    interval_median, interval_p95, interval_max : float
        Seconds between consecutive frames' arrivals (NaN with fewer than 2 frames).
    skipped : int
        Frames the source itself lost.
    source_error : str or None
        Why the source stopped early, if it failed.
    processors : dict
        ``{name: ProcessorStats}``.
    """

    running: bool
    elapsed: float
    frames: int
    rate: float
    interval_median: float
    interval_p95: float
    interval_max: float
    skipped: int
    source_error: str | None
    processors: dict = field(default_factory=dict)

    def line(self) -> str:
        """Return a one-line status: time, frames and rate, and each processor's rate and drops."""
        parts = [f"{self.elapsed:6.1f} s  {self.frames} frames {self.rate:.1f}/s ({self.skipped} skipped)"]
        parts += [p.line() for p in self.processors.values()]
        if self.source_error:
            parts.append(f"source failed: {self.source_error}")
        return " | ".join(parts)

    def table(self) -> str:
        """Return a table of every processor's figures (latencies in ms)."""
        lines = [
            f"source: {self.frames} frames in {self.elapsed:.2f} s = {self.rate:.2f}/s, {self.skipped} skipped; "
            f"interval median {1e3 * self.interval_median:.1f} ms, p95 {1e3 * self.interval_p95:.1f} ms, "
            f"max {1e3 * self.interval_max:.1f} ms",
            f"{'processor':<20} {'kind':<8} {'done':>6} {'dropped':>8} {'errors':>6} {'frames/s':>9} "
            f"{'latency median':>15} {'p95':>8} {'compute':>8}",
        ]
        for p in self.processors.values():
            lines.append(
                f"{p.name:<20} {p.kind:<8} {p.done:>6} {p.dropped:>8} {p.errors:>6} {p.rate:>9.2f} "
                f"{1e3 * p.latency_median:>12.1f} ms {1e3 * p.latency_p95:>5.1f} ms {1e3 * p.compute_median:>5.1f} ms"
                + (f"  STALLED: no result for {p.busy_for:.0f} s" if p.stalled else "")
            )
        return "\n".join(lines)


def _import_lazy_modules() -> None:
    """Import, in the calling thread, what processors and sinks import lazily (so no first call waits on a lock)."""
    import importlib

    for module in ("stonerimg.funcs.geometry", "stonerimg.funcs.fourier", "stonerimg.funcs.profiles"):
        importlib.import_module(module)


def _call_in_worker(func, frame):
    """Run a processor's function in a worker process (``None`` is the start-up ping)."""
    return None if frame is None else func(frame)


class _Runner:
    """A processor's mailbox, sink and counters inside one session."""

    def __init__(self, processor: Processor):
        self.processor = processor
        self.sink = processor.make_sink()
        self.pending: tuple[ImageArray, float] | None = None
        self.busy = False
        self.done = 0
        self.dropped = 0
        self.failures = 0
        self.errors: deque[ProcessorError] = deque(maxlen=100)
        self.latency: deque[float] = deque(maxlen=_KEEP)
        self.compute: deque[float] = deque(maxlen=_KEEP)
        self.pool = None
        self.started: float | None = None  # when the call running now began


def _median(values) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def _p95(values) -> float:
    return float(np.percentile(values, 95)) if len(values) else float("nan")


class Session:
    """Run processors on the frames of a source while it acquires.

    Parameters
    ----------
    source : FrameSource or iterable
        Where frames come from (any iterable of 2-D arrays or images is wrapped in an
        :class:`~stonerimg.live.ArraySource`).
    processors : sequence of Processor or str
        What to compute; a string names a built-in processor (``"mean"``,
        ``"gaussian(sigma=3)"``, see :data:`~stonerimg.live.BUILTINS`).  Names must be unique.
    roi : ROI, (x, y, w, h), mask or None
        The region every processor without its own ROI sees; change it while running
        with ``session.roi.set(...)``.
    workers : int, optional
        How many processors may compute at once (worker threads); default one per
        processor.  With fewer workers than processors, the processor whose frame waited
        longest goes first, and among those on the same frame the quickest (by its last
        compute time).  Fewer workers bound the CPU a session takes; keep the default
        when a processor may block (waits on I/O, sleeps).
    deadline : float, default 10
        Seconds a processor's call may run before :meth:`stats` reports it as
        ``stalled`` (it is not interrupted: a thread cannot be; the others go on).
    use_processes : bool, default False
        Run each processor's function in its own worker process (the frame cut to the
        ROI is sent pickled, the result comes back pickled).  For functions that hold the
        GIL; NumPy/SciPy functions are faster in threads.  Processes do not share the FFT
        cache of the built-in processors.
    drop : bool, default True
        Latest wins: a processor that is still busy when a new frame arrives skips the
        frame it had not started (counted as dropped).  ``False`` makes the acquisition
        wait until every processor has taken the previous frame, so every frame is
        processed — for replaying files, never for a live camera.

    Examples
    --------
    >>> import numpy as np
    >>> frames = [np.full((4, 4), float(v)) for v in (1, 2, 3)]
    >>> session = Session(frames, ["mean", "max"], drop=False)
    >>> stats = session.run()
    >>> session["mean"].data().values[:, 0].tolist(), stats.processors["max"].done
    ([1.0, 2.0, 3.0], 3)
    """

    def __init__(
        self,
        source,
        processors: Iterable,
        *,
        roi=None,
        workers: int | None = None,
        deadline: float = 10.0,
        use_processes: bool = False,
        drop: bool = True,
    ):
        from .builtins import parse_processor

        if isinstance(source, FrameSource):
            self.source = source
        elif isinstance(source, Iterable) and not isinstance(source, (str, bytes)):
            self.source = ArraySource(source)
        else:
            raise TypeError(f"source: must be a FrameSource or an iterable of frames, not {type(source).__name__}")
        if isinstance(processors, (Processor, str)):
            processors = [processors]
        made = []
        for p in processors:
            if isinstance(p, str):
                p = parse_processor(p)
            elif not isinstance(p, Processor):
                raise TypeError(f"processors: each must be a Processor or a built-in's name, not {p!r}")
            made.append(p)
        if not made:
            raise ValueError("processors: give at least one")
        names = [p.name for p in made]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"processors: names must be unique; repeated: {', '.join(repeated)} (give name=...)")
        if workers is None:
            workers = len(made)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: must be a positive int, not {workers!r}")
        self._roi = ROI.coerce(roi)
        self.workers = workers
        self.use_processes = bool(use_processes)
        self.drop = bool(drop)
        self._runners = {p.name: _Runner(p) for p in made}
        if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0:
            raise ValueError(f"deadline: must be positive seconds, not {deadline!r}")
        self.deadline = float(deadline)
        self._cv = threading.Condition()
        self._state = "new"
        self._stopping = False
        self._source_done = False
        self._source_error: str | None = None
        self._arrivals: deque[float] = deque(maxlen=_KEEP)
        self._frames = 0
        self._t0 = self._t1 = None
        self._threads: list[threading.Thread] = []
        self._acquisition: threading.Thread | None = None
        self._recorders: list = []
        self.latest_frame: ImageArray | None = None

    # --------------------------------------------------------------------------- access
    @property
    def processors(self) -> tuple[Processor, ...]:
        """The processors, in the order given."""
        return tuple(r.processor for r in self._runners.values())

    @property
    def sinks(self) -> dict:
        """``{name: sink}``: a :class:`ScalarTrace`, :class:`Waterfall` or :class:`LatestImage` per processor."""
        return {name: r.sink for name, r in self._runners.items()}

    def __getitem__(self, name: str):
        """Return the sink of the processor called ``name``."""
        try:
            return self._runners[name].sink
        except KeyError:
            raise KeyError(f"no processor {name!r}; the session has {', '.join(self._runners)}") from None

    @property
    def roi(self) -> ROI:
        """The session's ROI: change it with ``session.roi.set(x, y, w, h)`` or assign a new one, even while running."""
        return self._roi

    @roi.setter
    def roi(self, value) -> None:
        self._roi = ROI.coerce(value)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._state == "running"

    @property
    def errors(self) -> list[ProcessorError]:
        """The recent failures of every processor (up to 100 each), oldest first per processor."""
        with self._cv:
            return [e for r in self._runners.values() for e in r.errors]

    @property
    def started(self) -> float | None:
        """``time.monotonic()`` at the start, or None."""
        return self._t0

    # --------------------------------------------------------------------------- control
    def start(self) -> Session:
        """Start acquiring and processing; return the session.

        Raises
        ------
        RuntimeError
            If the session was started before (a session runs once).
        """
        if self._state != "new":
            raise RuntimeError("this session has already run; make a new Session")
        if self.use_processes:  # start the worker processes before any thread of ours exists
            from .._workers import WorkerPool

            for runner in self._runners.values():
                runner.pool = WorkerPool(functools.partial(_call_in_worker, runner.processor.func), 1)
                ping = list(runner.pool.run([None]))[0]
                if not ping.ok:
                    self._close_pools()
                    raise RuntimeError(f"processor {runner.processor.name!r}: its worker process failed to start")
        _import_lazy_modules()
        self._state = "running"
        self._t0 = time.monotonic()
        for recorder in self._recorders:
            recorder.start()
        for i in range(min(self.workers, len(self._runners))):
            thread = threading.Thread(target=self._work, name=f"stonerimg-live-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._acquisition = threading.Thread(target=self._acquire, name="stonerimg-live-acquisition", daemon=True)
        self._acquisition.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source is exhausted (or ``timeout`` seconds); True if it is."""
        if self._acquisition is None:
            return self._source_done
        self._acquisition.join(timeout)
        return not self._acquisition.is_alive()

    def run(self, duration: float | None = None) -> SessionStats:
        """Start (if needed), run until the source is exhausted or ``duration`` seconds pass, stop; return the stats."""
        if self._state == "new":
            self.start()
        try:
            self.wait(duration)
        finally:  # Ctrl-C included: the recording is finished and the threads end
            stats = self.stop()
        return stats

    def stop(self, timeout: float = 10.0, drain: bool = True) -> SessionStats:
        """Stop the source and the processors, finish the recordings and return the final stats.

        Parameters
        ----------
        timeout : float, default 10
            Seconds to wait for the acquisition and then for the processors to finish
            (a processor still running after that is left to finish on its own, and
            whatever it returns is not recorded).
        drain : bool, default True
            Let each processor finish the frame waiting in its mailbox (at most one);
            ``False`` counts those frames as dropped.

        Notes
        -----
        Calling it again returns the same final stats.
        """
        if self._state == "stopped":
            return self.stats()
        if self._state == "new":
            self._state = "stopped"
            return self.stats()
        deadline = time.monotonic() + timeout
        with self._cv:
            self._stopping = True
            if not drain:
                for runner in self._runners.values():
                    if runner.pending is not None:
                        runner.pending = None
                        runner.dropped += 1
            self._cv.notify_all()
        self.source.close()
        self._acquisition.join(max(0.0, deadline - time.monotonic()))
        if self._acquisition.is_alive():
            logger.warning("the source %s did not stop within %g s", self.source.describe(), timeout)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [r.processor.name for r in self._runners.values() if r.busy]
        if busy:
            logger.warning("processors still running after %g s: %s", timeout, ", ".join(busy))
        self._t1 = time.monotonic()
        self._state = "stopped"
        for recorder in self._recorders:
            recorder.close()
        self._close_pools()
        return self.stats()

    def _close_pools(self) -> None:
        for runner in self._runners.values():
            if runner.pool is not None:
                runner.pool.terminate()
                runner.pool = None

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    # ------------------------------------------------------------------------- threads
    def _acquire(self) -> None:
        runners = list(self._runners.values())
        count = 0
        try:
            for item in self.source:
                if not (isinstance(item, ImageArray) and "frame" in item._metadata and not item.flags.writeable):
                    item = make_frame(item, count)
                count += 1
                arrival = time.monotonic()
                with self._cv:
                    if self._stopping:
                        break
                    self._frames += 1
                    self._arrivals.append(arrival)
                    self.latest_frame = item
                    for runner in runners:
                        if not self.drop:
                            while runner.pending is not None and not self._stopping:
                                self._cv.wait()
                        if runner.pending is not None:  # latest wins (with drop=False: only when stopping)
                            runner.dropped += 1
                        runner.pending = (item, arrival)
                    self._cv.notify_all()
        except Exception as err:  # noqa: BLE001 - a failing source ends the acquisition, not the session
            self._source_error = f"{type(err).__name__}: {err}"
            logger.error("the frame source failed: %s", self._source_error, exc_info=True)
        finally:
            with self._cv:
                self._source_done = True
                self._cv.notify_all()

    def _next_ready(self) -> _Runner | None:
        """Pick the free processor whose frame waited longest; among those on one frame, the quickest first.

        Quickest first (by the last compute time) keeps the cheap results flowing when
        the machine is overloaded: then the expensive processors drop frames, not all of them.
        """
        ready = [r for r in self._runners.values() if r.pending is not None and not r.busy]
        if not ready:
            return None
        return min(ready, key=lambda r: (r.pending[1], r.compute[-1] if r.compute else 0.0))

    def _work(self) -> None:
        while True:
            with self._cv:
                while True:
                    runner = self._next_ready()
                    if runner is not None:
                        break
                    if (self._source_done or self._stopping) and all(r.pending is None for r in self._runners.values()):
                        return
                    self._cv.wait()
                frame, arrival = runner.pending
                runner.pending = None
                runner.busy = True
                runner.started = time.monotonic()
                self._cv.notify_all()  # an acquisition waiting for this mailbox (drop=False)
            self._process(runner, frame, arrival)

    def _process(self, runner: _Runner, frame: ImageArray, arrival: float) -> None:
        processor = runner.processor
        started = time.monotonic()
        number = int(frame._metadata.get("frame", -1))
        when = float(frame._metadata.get("time", float("nan")))
        error = None
        try:
            view = processor.cut(frame, self.roi)
            if runner.pool is not None:
                outcome = list(runner.pool.run([view]))[0]
                if not outcome.ok:
                    raise outcome.error
                result = outcome.value
            else:
                result = processor.func(view)
            runner.sink.append(when, number, processor.convert(result))
        except Exception as err:  # noqa: BLE001 - recorded with its frame; the others go on
            error = ProcessorError(processor.name, number, when, f"{type(err).__name__}: {err}", traceback.format_exc())
            (logger.warning if runner.failures == 0 else logger.debug)(
                "processor %r failed on frame %d: %s", processor.name, number, error.error
            )
        finally:
            finished = time.monotonic()
            with self._cv:
                runner.busy = False
                runner.started = None
                if error is None:
                    runner.done += 1
                    runner.latency.append(finished - arrival)
                    runner.compute.append(finished - started)
                else:
                    runner.failures += 1
                    runner.errors.append(error)
                self._cv.notify_all()

    # ---------------------------------------------------------------------------- stats
    def stats(self) -> SessionStats:
        """Figures so far: frames read, and each processor's done, dropped, errors, rate and latency."""
        with self._cv:
            now = self._t1 if self._t1 is not None else time.monotonic()
            clock = time.monotonic()
            elapsed = 0.0 if self._t0 is None else now - self._t0
            arrivals = np.array(self._arrivals)
            rows = [
                (
                    r.processor,
                    r.done,
                    r.dropped,
                    r.failures,
                    list(r.latency),
                    list(r.compute),
                    r.errors[-1] if r.errors else None,
                    0.0 if r.started is None else clock - r.started,
                )
                for r in self._runners.values()
            ]
            frames = self._frames
        intervals = np.diff(arrivals)
        processors = {}
        for processor, done, dropped, failures, latency, compute, last, busy_for in rows:
            processors[processor.name] = ProcessorStats(
                name=processor.name,
                kind=processor.kind,
                done=done,
                dropped=dropped,
                errors=failures,
                rate=done / elapsed if elapsed > 0 else 0.0,
                latency_median=_median(latency),
                latency_p95=_p95(latency),
                compute_median=_median(compute),
                last_error=last,
                busy_for=busy_for,
                stalled=busy_for > self.deadline,
            )
        return SessionStats(
            running=self.running,
            elapsed=elapsed,
            frames=frames,
            rate=frames / elapsed if elapsed > 0 else 0.0,
            interval_median=_median(intervals),
            interval_p95=_p95(intervals),
            interval_max=float(intervals.max()) if intervals.size else float("nan"),
            skipped=int(getattr(self.source, "skipped", 0)),
            source_error=self._source_error,
            processors=processors,
        )

    # ---------------------------------------------------------------------- outputs
    def record(self, path, *, images: str = "last", interval: float = 0.5):
        """Write the sinks to an HDF5 file while the session runs; return the :class:`Recorder`.

        The file appears at ``path`` when the session stops (it is written under a
        temporary name beside it meanwhile); see :class:`~stonerimg.live.Recorder` for the
        layout.  Called after the session stopped, it writes what the sinks hold.
        """
        from .recording import Recorder

        recorder = Recorder(self, path, images=images, interval=interval)
        self._recorders.append(recorder)
        if self._state == "running":
            recorder.start()
        elif self._state == "stopped":
            recorder.start()
            recorder.close()
        return recorder

    def show(self, **kwargs):
        """Open a matplotlib figure whose panels follow the sinks; return the :class:`~stonerimg.live.LiveView`.

        Keyword arguments go to :class:`~stonerimg.live.LiveView`.  In a notebook whose
        matplotlib backend draws static pictures (inline), this returns a
        :class:`~stonerimg.notebook.live.LiveWidget` instead: one picture refreshed in
        place by a background thread (``interval=`` seconds), without piling up outputs.
        """
        from ..notebook.live import wants_widget

        if wants_widget():
            from ..notebook.live import LiveWidget

            return LiveWidget(self, **kwargs)
        from .display import LiveView

        return LiveView(self, **kwargs)

    def __repr__(self):
        names = ", ".join(self._runners)
        return f"<Session {self._state}: {self.source.describe()} -> {names}>"
