"""A small supervised pool of worker processes with a deadline per task.

:class:`WorkerPool` is the only process machinery of stonerimg (work on more than
one machine goes through dask.distributed).  It exists because a malformed file
can make a C library (libhdf5) hang or crash the process that reads it: each
worker is a long-lived process that runs one task at a time from its own pipe,
and the parent

- gives a worker its next task only when it has finished the previous one,
- kills a worker whose task has run past its deadline and reports that task as
  :class:`TaskTimeoutError`,
- notices a worker that died (a signal, ``os._exit``) and reports its task as
  :class:`WorkerCrashedError`,
- replaces either worker with a fresh one, so one bad file costs one task, not
  the batch,
- stops and reaps every worker on :meth:`WorkerPool.close`, on an exception
  (``KeyboardInterrupt`` included) and when the pool is garbage collected, so
  no process is left behind.

Workers ignore ``SIGINT``: Ctrl-C reaches the parent, which terminates them.
Results and exceptions travel pickled.  An exception that pickle cannot
re-create (its ``__init__`` takes other arguments than its ``args``) is rebuilt
from its class, ``args`` and attributes; one whose class cannot be imported
(defined inside a function) arrives as a :class:`RuntimeError` with its type and
message.  The worker's traceback is the ``__cause__`` of every exception.

Examples
--------
>>> with WorkerPool(abs, workers=2) as pool:
...     [outcome.value for outcome in pool.run([-3, 1, -2])]
[3, 1, 2]
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any, NamedTuple

__all__ = ["Outcome", "TaskTimeoutError", "WorkerCrashedError", "WorkerPool", "default_context"]

logger = logging.getLogger(__name__)

_READY = b"ready"
_STOP = b"stop"
#: Seconds a worker may take to start (import the library) before the pool gives up.
START_TIMEOUT = 120.0
#: Seconds :meth:`WorkerPool.close` waits for a worker to leave before killing it.
CLOSE_GRACE = 5.0
#: Longest wait (seconds) for the workers before the parent checks its deadlines and signals again.
WAKE_UP = 0.5


class TaskTimeoutError(TimeoutError):
    """A task ran past its deadline; its worker was killed and replaced."""


class WorkerCrashedError(RuntimeError):
    """The worker process running a task died (a signal or an exit); it was replaced."""


class _RemoteTraceback(Exception):  # noqa: N818 - carries text, is not raised on its own
    """The traceback of an exception raised in a worker process."""

    def __init__(self, text: str):
        super().__init__(text)

    def __str__(self):
        return f"\n\nin the worker process:\n{self.args[0]}"


class Outcome(NamedTuple):
    """What became of one task: its ``index`` in the input and its ``value`` or ``error``."""

    index: int
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the task returned (``error`` is None)."""
        return self.error is None


def default_context():
    """Return the multiprocessing context the pool uses: ``"fork"`` where available, else ``"spawn"``.

    ``fork`` starts a worker in milliseconds and lets it run functions that cannot
    be pickled (lambdas, closures); ``spawn`` (Windows, macOS) needs the function to
    be importable by name.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")


class _ExceptionRecord:
    """An exception's class, ``args`` and attributes, rebuilt without calling its ``__init__``.

    Pickle re-creates an exception as ``cls(*args)``, which fails or garbles the
    message when ``__init__`` takes other arguments than it stores in ``args``
    (a common pattern, ``FormatError(filename, attempts)`` among them).
    """

    def __init__(self, err: BaseException):
        self.cls = type(err)
        self.args = err.args
        self.state = dict(getattr(err, "__dict__", {}))

    def rebuild(self) -> BaseException:
        err = self.cls.__new__(self.cls, *self.args)
        err.args = self.args
        err.__dict__.update(self.state)
        return err


def _same(a: BaseException, b: BaseException) -> bool:
    return type(a) is type(b) and str(a) == str(b)


def _portable(err: BaseException):
    """Return what to send for ``err``: itself, an :class:`_ExceptionRecord`, or a RuntimeError.

    The first that pickles and comes back with the same type and message wins; the
    last resort keeps the type's name and the message.
    """
    try:
        if _same(pickle.loads(pickle.dumps(err, protocol=pickle.HIGHEST_PROTOCOL)), err):
            return err
    except Exception:
        pass
    try:
        record = _ExceptionRecord(err)
        if _same(pickle.loads(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)).rebuild(), err):
            return record
    except Exception:
        pass
    return RuntimeError(f"{type(err).__name__}: {err}")


def _die_with_parent(parent: int) -> None:
    """End this worker when its parent process dies, even while it is busy (or stuck) in a task.

    On Linux the kernel does it (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a
    daemon thread watches for the parent to change.  Either way a ``kill -9`` of
    the parent leaves no worker behind.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
        else:
            if os.getppid() != parent:  # the parent died before we asked
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="stonerimg-parent-watch", daemon=True).start()


def _worker_main(conn, func: Callable, initializer: Callable | None, parent: int | None = None) -> None:
    """Run tasks from ``conn`` until told to stop or the parent goes away."""
    if parent is not None:
        _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    if initializer is not None:
        initializer()
    conn.send_bytes(_READY)
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if payload == _STOP:
            return
        index, blob = pickle.loads(payload)
        try:
            result = func(pickle.loads(blob))
        except BaseException as err:  # noqa: B036 - every failure of a task is reported, SystemExit included
            message = pickle.dumps((index, False, _portable(err), traceback.format_exc()), pickle.HIGHEST_PROTOCOL)
        else:
            try:
                message = pickle.dumps((index, True, result, None), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as err:
                error = TypeError(f"the result, a {type(result).__name__}, cannot be sent back from the worker: {err}")
                message = pickle.dumps((index, False, error, None), protocol=pickle.HIGHEST_PROTOCOL)
        conn.send_bytes(message)


class _Worker:
    """One worker process, its pipe and the task it runs."""

    def __init__(self, context, func, initializer, name):
        parent_end, child_end = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker_main, args=(child_end, func, initializer, os.getpid()), name=name, daemon=True
        )
        try:
            self.process.start()
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            parent_end.close()
            child_end.close()
            raise TypeError(
                f"func: cannot be sent to a worker process ({err}); with the 'spawn' start method the "
                "function must be defined at module level"
            ) from err
        child_end.close()  # the child holds its own copy; closing ours lets us see EOF when it dies
        self.conn = parent_end
        self.ready = False
        self.started = time.monotonic()
        self.task: tuple[int, float | None] | None = None  # (index, deadline)

    def kill(self) -> None:
        """Kill the process (if alive), reap it and close the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()

    def death(self) -> str:
        """Describe how the (dead) process ended."""
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        if code is None:
            return "worker stopped answering"
        if code < 0:
            return f"worker crashed (signal {-code})"
        return f"worker crashed (exit code {code})"


def _kill_all(workers: list[_Worker]) -> None:
    for worker in workers:
        try:
            worker.kill()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass
    workers.clear()


class WorkerPool:
    """Long-lived worker processes running ``func(item)``, one task at a time each.

    Parameters
    ----------
    func : callable
        ``func(item) -> result``, run in the workers.  With the ``spawn`` start
        method it must be picklable (defined at module level); with ``fork`` any
        callable works.  Its results must be picklable (one that is not arrives
        as a :class:`TypeError` saying so).
    workers : int
        Number of worker processes (at least 1).
    initializer : callable, optional
        Called once in each new worker before it takes tasks (e.g. to import
        heavy modules), so start-up time does not count against a task's deadline.
    context : multiprocessing context, optional
        Default :func:`default_context`.

    Notes
    -----
    Use it as a context manager (or call :meth:`close`): workers live until the
    pool is closed, across calls of :meth:`run`.
    """

    def __init__(self, func: Callable, workers: int, *, initializer: Callable | None = None, context=None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: must be a positive int, not {workers!r}")
        if not callable(func):
            raise TypeError(f"func: must be callable, not {type(func).__name__}")
        self._func = func
        self._initializer = initializer
        self._context = context or default_context()
        self._size = workers
        self._workers: list[_Worker] = []
        self._closed = False
        self._serial = 0
        self._finalizer = weakref.finalize(self, _kill_all, self._workers)

    # ------------------------------------------------------------------ workers
    def _spawn(self) -> _Worker:
        self._serial += 1
        worker = _Worker(self._context, self._func, self._initializer, f"stonerimg-worker-{self._serial}")
        self._workers.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.remove(worker)
        self._spawn()

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.process.pid for w in self._workers]

    def close(self) -> None:
        """Ask every worker to stop, wait briefly, kill those that do not, and reap them all."""
        self._closed = True
        for worker in self._workers:
            try:
                if worker.task is None:
                    worker.conn.send_bytes(_STOP)
            except OSError:
                pass
        deadline = time.monotonic() + CLOSE_GRACE
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        _kill_all(self._workers)

    def terminate(self) -> None:
        """Kill every worker at once and reap them."""
        self._closed = True
        _kill_all(self._workers)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.terminate()

    # -------------------------------------------------------------------- tasks
    def run(self, items: Iterable, *, timeout: float | None = None, ordered: bool = True) -> Iterator[Outcome]:
        """Run ``func`` on every item; yield an :class:`Outcome` per item.

        Parameters
        ----------
        items : iterable
            The arguments, each sent pickled to a worker.
        timeout : float, optional
            Seconds one task may run.  A worker still busy after that is killed
            and replaced, and its task fails with :class:`TaskTimeoutError`.
        ordered : bool, default True
            Yield outcomes in the order of ``items``; ``False`` yields each as it
            completes (handy for a progress bar).

        Yields
        ------
        Outcome
            ``(index, value, error)``: a failed task has ``error`` set to the
            exception it raised (with the worker's traceback as its
            ``__cause__``), a :class:`TaskTimeoutError` or a :class:`WorkerCrashedError`.

        Notes
        -----
        If the caller stops iterating early, or an exception (``KeyboardInterrupt``
        included) interrupts the run, every worker is killed and reaped; a later
        :meth:`run` starts fresh ones.
        """
        if self._closed:
            raise RuntimeError("this WorkerPool is closed")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout: must be positive seconds or None, not {timeout!r}")
        pending = deque(enumerate(items))
        finished = False
        try:
            if ordered:
                buffer: dict[int, Outcome] = {}
                expected = 0
                for outcome in self._schedule(pending, timeout):
                    buffer[outcome.index] = outcome
                    while expected in buffer:
                        yield buffer.pop(expected)
                        expected += 1
            else:
                yield from self._schedule(pending, timeout)
            finished = True
        finally:
            if not finished:
                self.terminate()
                self._closed = False  # a later run() may start again

    def _schedule(self, pending: deque, timeout: float | None) -> Iterator[Outcome]:
        while len(self._workers) < min(self._size, len(pending)):
            self._spawn()
        busy = 0
        while pending or busy:
            now = time.monotonic()
            for worker in self._workers:
                if pending and worker.ready and worker.task is None:
                    index, item = pending.popleft()
                    try:  # the item inside, so a worker that cannot unpickle it reports that for this task
                        blob = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                        payload = pickle.dumps((index, blob), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception as err:
                        yield Outcome(index, error=TypeError(f"item {index}: cannot be sent to a worker: {err}"))
                        continue
                    worker.task = (index, None if timeout is None else now + timeout)
                    worker.conn.send_bytes(payload)
                    busy += 1
            # wake up at least every WAKE_UP s: a Ctrl-C delivered to another thread is only
            # acted on (KeyboardInterrupt) when the main thread comes back to Python code
            waits = [WAKE_UP]
            waits += [w.task[1] - now for w in self._workers if w.task is not None and w.task[1] is not None]
            waits += [w.started + START_TIMEOUT - now for w in self._workers if not w.ready]
            handles = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            ready = set(wait(handles, timeout=max(0.0, min(waits))))
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.conn in ready or worker.process.sentinel in ready:
                    for outcome in self._collect(worker):
                        busy -= 1
                        yield outcome
                elif worker.task is not None and worker.task[1] is not None and now >= worker.task[1]:
                    index = worker.task[0]
                    logger.warning("task %d timed out after %g s; killing its worker", index, timeout)
                    self._replace(worker)
                    busy -= 1
                    yield Outcome(index, error=TaskTimeoutError(f"timed out after {timeout:g} s"))
                elif not worker.ready and now >= worker.started + START_TIMEOUT:
                    raise RuntimeError(f"a worker process did not start within {START_TIMEOUT:g} s")

    def _collect(self, worker: _Worker) -> Iterator[Outcome]:
        """Read what ``worker`` sent; handle its death."""
        dead = False
        try:
            while worker.conn.poll():
                data = worker.conn.recv_bytes()
                if not worker.ready:
                    if data != _READY:
                        raise RuntimeError(f"unexpected first message from a worker: {data[:40]!r}")
                    worker.ready = True
                    continue
                index, ok, value, text = pickle.loads(data)
                if isinstance(value, _ExceptionRecord):
                    value = value.rebuild()
                worker.task = None
                if ok:
                    yield Outcome(index, value=value)
                else:
                    if text:
                        value.__cause__ = _RemoteTraceback(text)
                    yield Outcome(index, error=value)
        except (EOFError, OSError):
            dead = True
        if dead or not worker.process.is_alive():
            if not worker.ready and worker.task is None:
                reason = worker.death()
                self.terminate()
                raise RuntimeError(f"a worker process failed to start: {reason}")
            task = worker.task
            reason = worker.death()
            self._replace(worker)
            if task is not None:
                logger.warning("task %d: %s", task[0], reason)
                yield Outcome(task[0], error=WorkerCrashedError(reason))
