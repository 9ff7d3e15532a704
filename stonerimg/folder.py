"""ImageFolder: many image files as one lazy collection.

An :class:`ImageFolder` lists the files of a directory that match one or more
glob patterns when it is made, and loads each file (through
:func:`stonerimg.load`) only when it is first used, keeping the most recently
used documents in a bounded cache.  It selects and groups files on their
metadata, applies image functions to every image (:attr:`ImageFolder.each`),
runs any function over the files in worker processes or on a dask cluster
(:meth:`ImageFolder.map`), computes mask-aware averages while streaming over
the files, and converts whole folders (:meth:`ImageFolder.convert`).

Changes live in memory until saved
    Image functions applied through :attr:`ImageFolder.each` (and
    :meth:`ImageFolder.align`) change the documents in place.  A changed
    document is *pinned*: it stays in memory, outside the bounded cache, for as
    long as the folder lives, so no change is ever lost by eviction (the price:
    a folder whose every image was changed holds every image in memory).
    Nothing is written back to the files.  To process more files than fit in
    memory, use :meth:`ImageFolder.map` or :meth:`ImageFolder.convert` with
    ``process=``, which load, process and drop one file at a time.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import dataclasses
import errno
import logging
import numbers
import operator
import os
import re
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import numpy as np

from ._frames import SKIP, Policy, RunningMean, RunningVariance, Skipped, check_errors, common_items
from ._frames import name_error as _name_error
from ._frames import raise_named as _raise_named
from ._frames import reason as _reason
from .array import ImageArray
from .imagefile import ImageFile
from .metadata import _values_equal

__all__ = ["ConversionReport", "FolderGroups", "ImageFolder", "convert_files", "natural_key"]

logger = logging.getLogger(__name__)

#: Above this many files a progress bar is shown by default (when stderr is a terminal).
PROGRESS_THRESHOLD = 20
#: Metadata values cached for select/groupby/metadata without reloading: arrays up to this size ...
_LIGHT_ARRAY = 16
#: ... and strings up to this length.
_LIGHT_TEXT = 256

_MISSING = object()


# ---------------------------------------------------------------------- helpers
def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers inside names by value: ``file2`` before ``file10``.

    Examples
    --------
    >>> sorted(["file10.tif", "file2.tif", "File1.tif"], key=natural_key)
    ['File1.tif', 'file2.tif', 'file10.tif']
    """
    parts = re.split(r"(\d+)", name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)], name


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool | None, desc: str):
    """Return a tqdm bar when asked (by default for long runs on a terminal), else a do-nothing stand-in."""
    if progress is None:
        progress = total > PROGRESS_THRESHOLD and sys.stderr.isatty()
    if not progress:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr)


def _check_workers(workers, client) -> int:
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 0:
        raise ValueError(f"workers: must be an int >= 0, not {workers!r}")
    if workers and client is not None:
        raise ValueError("workers and client: give one of them (a dask client brings its own workers)")
    return int(workers)


def _check_timeout(timeout) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout: must be positive seconds or None, not {timeout!r}")
    return float(timeout)


def _outcomes(
    task: Callable, items: list, *, workers: int, timeout: float | None, client, supervise: bool = False
) -> Iterator:
    """Run ``task`` on every item here, in worker processes or on dask; yield Outcomes as they finish.

    With ``workers=0`` the items run here, each under ``timeout`` (see
    :func:`_deadline`); with ``supervise`` and a ``timeout`` they run instead in
    one supervised worker process, so that even a hang inside C code costs its
    own item only.
    """
    from ._workers import Outcome, WorkerPool

    if client is not None:
        yield from _dask_outcomes(client, task, items, timeout)
    elif workers == 0 and not (supervise and timeout is not None and items):
        for index, item in enumerate(items):
            try:
                with _deadline(timeout):
                    value = task(item)
            except Exception as err:
                yield Outcome(index, error=err)
            else:
                yield Outcome(index, value=value)
    else:
        with WorkerPool(task, min(max(workers, 1), max(1, len(items))), initializer=_warm_up) as pool:
            yield from pool.run(items, timeout=timeout, ordered=False)


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Raise :class:`~stonerimg._workers.TaskTimeoutError` in this thread when ``seconds`` pass.

    Uses ``SIGALRM``, so it works in the main thread on POSIX and when nothing
    else uses that signal (otherwise there is no deadline); it interrupts Python
    code, not a call stuck inside a C library (a supervised worker handles those).
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )
    if not usable:
        yield
        return
    from ._workers import TaskTimeoutError

    def expire(signum, frame):
        raise TaskTimeoutError(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _warm_up() -> None:
    """Prepare a new worker process before its first deadline starts: imports and :func:`keep_freed_buffers`."""
    from . import formats  # noqa: F401

    keep_freed_buffers()


def keep_freed_buffers() -> None:
    """Ask glibc to keep freed buffers of up to 32 MB for reuse in this process.

    A batch loads and frees images of the same size over and over; by default glibc
    hands each freed buffer back to the kernel and the next image pays for fresh
    pages (page faults): 2-3 ms per 512 x 512 float64 file in
    ``scripts/benchmark_convert.py``.  The worker processes and the ``stonerimg``
    command call this; the library never changes a user's own process.  Does
    nothing where the C library is not glibc.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None)
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):  # not glibc
            pass


def _dask_outcomes(client, task: Callable, items: list, timeout: float | None) -> Iterator:
    """Run the tasks on a dask.distributed cluster; yield Outcomes as they finish.

    dask cannot interrupt a running task, so ``timeout`` here bounds how long no
    task at all may finish: after that the unfinished ones are cancelled and
    reported as timed out.  A task whose worker dies is retried by dask and
    fails with ``KilledWorker`` after the scheduler's ``allowed-failures``.
    """
    from distributed import as_completed

    from ._workers import Outcome, TaskTimeoutError

    futures = client.map(task, items, pure=False)
    index_of = {future.key: i for i, future in enumerate(futures)}
    remaining = dict(zip(index_of, futures, strict=True))
    done = as_completed(futures)
    last = time.monotonic()
    try:
        while remaining:
            batch = done.next_batch(block=False)
            if not batch:
                if timeout is not None and time.monotonic() - last > timeout:
                    client.cancel(list(remaining.values()))
                    for key in list(remaining):
                        del remaining[key]
                        yield Outcome(index_of[key], error=TaskTimeoutError(f"timed out after {timeout:g} s (dask)"))
                    break
                time.sleep(0.01)
                continue
            last = time.monotonic()
            for future in batch:
                remaining.pop(future.key, None)
                index = index_of[future.key]
                if future.status == "error":
                    yield Outcome(index, error=future.exception())
                elif future.status == "cancelled":
                    yield Outcome(index, error=RuntimeError("the dask task was cancelled"))
                else:
                    yield Outcome(index, value=future.result())
                future.release()
    finally:
        if remaining:
            client.cancel(list(remaining.values()))


# ------------------------------------------------------------------ map tasks
class _MapTask:
    """Load one file (unless given its document) and call ``func`` on it; errors name the file."""

    def __init__(self, func: Callable, load_kwargs: dict):
        self.func = func
        self.load_kwargs = load_kwargs

    def __call__(self, item):
        path, document = item
        try:
            if document is None:
                from .formats import load

                document = load(path, **self.load_kwargs)
            return self.func(document)
        except Exception as err:
            _raise_named(err, path)


# ------------------------------------------------------------------ conversion
#: Output formats of :meth:`ImageFolder.convert`: name -> (registered saver, extension).
OUTPUT_FORMATS = {
    "tiff": ("tiff", ".tif"),
    "tif": ("tiff", ".tif"),
    "png": ("png", ".png"),
    "npy": ("npy", ".npy"),
    "hdf5": ("stxm", ".hdf5"),
    "stxm": ("stxm", ".hdf5"),
}


def _output_format(fmt: str) -> tuple[str, str]:
    """Return (saver name, extension) for ``fmt``: one of OUTPUT_FORMATS or any registered format that saves."""
    from . import formats

    if not isinstance(fmt, str):
        raise TypeError(f"fmt: must be a format name, not {type(fmt).__name__}")
    key = fmt.lower()
    if key in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[key]
    savers = {f["name"]: f for f in formats.available() if f["saves"]}
    if key in savers and savers[key]["extensions"]:
        extensions = savers[key]["extensions"]
        return key, min(extensions, key=lambda e: (extensions[e], e))
    known = sorted(set(OUTPUT_FORMATS) | set(savers))
    raise ValueError(f"fmt: cannot convert to {fmt!r}; use one of {', '.join(known)}")


def _check_process(process) -> list[tuple[str, tuple, dict]]:
    """Normalise ``process`` to a list of (name, args, kwargs) of registered image functions."""
    from .funcs._binding import registered

    if process is None:
        return []
    if isinstance(process, (str, tuple)):
        process = [process]
    known = registered()
    steps = []
    for step in process:
        if isinstance(step, str):
            step = (step,)
        if not isinstance(step, (tuple, list)) or not 1 <= len(step) <= 3:
            raise ValueError(f"process: each step is (name, args, kwargs), not {step!r}")
        name = step[0]
        args = tuple(step[1]) if len(step) > 1 and step[1] is not None else ()
        kwargs = dict(step[2]) if len(step) > 2 and step[2] is not None else {}
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"process: {name!r} is not a registered image function; known: {', '.join(sorted(known))}")
        steps.append((name, args, kwargs))
    return steps


class _ConvertTask:
    """Convert one file: load, apply the steps, save atomically with the chosen format."""

    def __init__(self, saver: str, fmt: str, steps: list, load_kwargs: dict, overwrite: bool):
        self.saver = saver
        self.fmt = fmt
        self.steps = steps
        self.load_kwargs = load_kwargs
        self.overwrite = overwrite

    def __call__(self, item) -> tuple[bool, str, list]:
        """Convert one file; return ``(written, target or reason, [(warning kind, message), ...])``."""
        import warnings

        with warnings.catch_warnings(record=True) as caught:  # reported with the file name, after the run
            warnings.simplefilter("always")
            written, text = self._convert(item)
        seen = list(dict.fromkeys((w.category.__name__, str(w.message)) for w in caught))
        return written, text, seen

    def _convert(self, item) -> tuple[bool, str]:
        source, target = item
        from .formats import load

        document = load(source, **self.load_kwargs)
        if self.saver == "stxm":
            from .formats.stxm import STXMImage

            if not isinstance(document, STXMImage):
                raise ValueError(
                    f"fmt={self.fmt!r} writes STXM images only; this file loads as a {type(document).__name__}"
                )
        for name, args, kwargs in self.steps:
            result = getattr(document, name)(*args, **kwargs)
            if result is not document:
                raise ValueError(f"process: {name} does not give an image, so nothing is left to save")
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not self.overwrite and target.exists():
            return False, f"{target} exists (pass overwrite=True to replace it)"
        document.save(target, fmt=self.saver)
        return True, str(target)


@dataclasses.dataclass(frozen=True)
class ConversionReport:
    """What :meth:`ImageFolder.convert` did.

    Attributes
    ----------
    converted : list of (Path, Path)
        ``(input, output)`` of every file written.
    skipped : list of (Path, str)
        ``(input, reason)`` of every file not converted because its output exists.
    failed : list of (Path, str)
        ``(input, reason)`` of every file that could not be converted.
    seconds : float
        Wall time of the conversion.
    warnings : list of (Path, str, str)
        ``(input, warning kind, message)`` of every warning a conversion raised
        (each kind and message once per file), so they can be reported after the
        run instead of in the middle of a progress bar.
    """

    converted: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no file failed (skipped files are not failures)."""
        return not self.failed

    @property
    def total(self) -> int:
        """Number of input files."""
        return len(self.converted) + len(self.skipped) + len(self.failed)

    def summary(self) -> str:
        """One line: how many files were converted, skipped and failed, and how long it took.

        Examples
        --------
        >>> ConversionReport(converted=[("a.npy", "a.tif")], seconds=0.25).summary()
        '1 file: 1 converted, 0 skipped, 0 failed in 0.25 s'
        """
        return (
            f"{self.total} file{'' if self.total == 1 else 's'}: {len(self.converted)} converted, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed in {self.seconds:.3g} s"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  skipped {source}: {reason}" for source, reason in self.skipped]
        lines += [f"  failed {source}: {reason}" for source, reason in self.failed]
        return "\n".join(lines)


def _remove_partial_outputs(target: Path) -> None:
    """Remove the temporary files a killed worker may have left beside ``target`` (see atomic_path)."""
    from .formats import temp_files

    for stray in temp_files(target):
        try:
            stray.unlink()
            logger.info("removed %s, left by a worker that did not finish", stray)
        except OSError:
            pass


def _convert_jobs(
    jobs: Sequence[tuple[Path, PurePosixPath]],
    out_dir,
    *,
    fmt: str,
    workers: int,
    overwrite: bool,
    timeout,
    process,
    client,
    progress,
    load_kwargs: Mapping | None = None,
) -> ConversionReport:
    """Convert ``(input, relative path)`` jobs into ``out_dir``; the engine of both convert entry points."""
    start = time.perf_counter()
    saver, extension = _output_format(fmt)
    steps = _check_process(process)
    workers = _check_workers(workers, client)
    timeout = _check_timeout(timeout)
    out_dir = Path(os.fspath(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped: list = []
    failed: list = []
    todo: list[tuple[Path, Path]] = []
    claimed: dict[Path, Path] = {}
    inputs = {source.resolve(): source for source, _ in jobs}
    for source, relative in jobs:
        target = out_dir / Path(*relative.parts).with_suffix(extension)
        replaced = inputs.get(target.resolve()) if target.exists() else None
        if replaced is not None:
            which = "its input" if replaced == source else f"the input {replaced}"
            failed.append((source, f"the output {target} would replace {which}"))
        elif target in claimed:
            failed.append((source, f"{claimed[target]} converts to the same output {target}"))
        elif target.exists() and not overwrite:
            skipped.append((source, f"{target} exists (pass overwrite=True to replace it)"))
        else:
            todo.append((source, target))
        claimed.setdefault(target, source)
    task = _ConvertTask(saver, fmt, steps, dict(load_kwargs or {}), overwrite)
    results: dict[int, tuple[bool, str] | BaseException] = {}
    bar = _progress_bar(len(todo), progress, "converting")
    outcomes = _outcomes(
        task, [(str(s), str(t)) for s, t in todo], workers=workers, timeout=timeout, client=client, supervise=True
    )
    try:
        for outcome in outcomes:
            results[outcome.index] = outcome.value if outcome.ok else outcome.error
            bar.update(1)
    finally:
        outcomes.close()  # stops the workers at once if we were interrupted
        bar.close()
        if len(results) < len(todo):  # interrupted: a killed worker may have left a temporary file
            for index, (_, target) in enumerate(todo):
                if index not in results:
                    _remove_partial_outputs(target)
    converted = []
    warned = []
    for index, (source, target) in enumerate(todo):
        result = results[index]
        if isinstance(result, BaseException):
            failed.append((source, _reason(result)))
            _remove_partial_outputs(target)
            logger.info("could not convert %s: %s", source, result)
            continue
        warned += [(source, kind, message) for kind, message in (result[2] if len(result) > 2 else ())]
        if result[0]:
            converted.append((source, target))
        else:
            skipped.append((source, result[1]))
    order = {source: i for i, (source, _) in enumerate(jobs)}
    failed.sort(key=lambda pair: order.get(pair[0], 0))
    skipped.sort(key=lambda pair: order.get(pair[0], 0))
    return ConversionReport(converted, skipped, failed, time.perf_counter() - start, warned)


def _readable_patterns() -> list[str]:
    """Glob patterns for every extension a registered format claims."""
    from .formats import available

    return sorted({f"*{ext}" for fmt in available() for ext in fmt["extensions"]})


def convert_files(
    sources: Iterable,
    out_dir,
    *,
    fmt: str = "tiff",
    recursive: bool = False,
    workers: int = 0,
    overwrite: bool = False,
    timeout: float | None = 60.0,
    process=None,
    client=None,
    progress: bool | None = None,
    external: str | None = None,
) -> ConversionReport:
    """Convert files and folders of files into ``out_dir`` (the engine of ``stonerimg convert``).

    A file is written as ``out_dir/<its name>``; the files of a folder (those with
    an extension some registered format reads) keep their path relative to the
    folder.  Everything else is as :meth:`ImageFolder.convert`.

    Parameters
    ----------
    sources : iterable of path
        Files and folders.
    out_dir : path
        The folder to write into (made if missing).
    fmt, workers, overwrite, timeout, process, client, progress
        As :meth:`ImageFolder.convert`.
    recursive : bool, default False
        Also convert the files in the sub-folders of folders.
    external : {"below", "none", "any"}, optional
        Where HDF5 inputs may keep data outside themselves (as for
        :func:`stonerimg.load`; default :data:`stonerimg.config.external`).

    Returns
    -------
    ConversionReport
    """
    if external is not None:
        from .formats._hdf5 import external_policy

        external_policy(external)
    jobs: list[tuple[Path, PurePosixPath]] = []
    missing: list = []
    for source in sources:
        source = Path(os.fspath(source))
        if source.is_dir():
            folder = ImageFolder(source, _readable_patterns(), recursive=recursive)
            jobs += [(path, PurePosixPath(name)) for path, name in zip(folder.files, folder.names, strict=True)]
            missing += folder.unreadable
        elif source.is_file():
            jobs.append((source, PurePosixPath(source.name)))
        else:
            missing.append((source, "no such file or folder"))
    report = _convert_jobs(
        jobs,
        out_dir,
        fmt=fmt,
        workers=workers,
        overwrite=overwrite,
        timeout=timeout,
        process=process,
        client=client,
        progress=progress,
        load_kwargs=None if external is None else {"external": external},
    )
    if missing:
        report = dataclasses.replace(report, failed=missing + report.failed)
    return report


# --------------------------------------------------------------------- select
def _op_contains(value, wanted) -> bool:
    return wanted in value


def _op_in(value, wanted) -> bool:
    return any(_values_equal(value, w) for w in wanted)


def _op_between(value, bounds) -> bool:
    low, high = bounds
    return low <= value <= high


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _values_equal,
    "ne": lambda a, b: not _values_equal(a, b),
    "gt": operator.gt,
    "lt": operator.lt,
    "ge": operator.ge,
    "le": operator.le,
    "contains": _op_contains,
    "in": _op_in,
    "between": _op_between,
}


def _parse_condition(spec: str) -> tuple[str, str]:
    """Split ``"key__op"`` into ``(key, op)``; a key without a known operator suffix is ``(key, "eq")``."""
    key, sep, op = spec.rpartition("__")
    if sep and key and op in _OPERATORS:
        return key, op
    return spec, "eq"


def _matches(value, op: str, wanted) -> bool:
    if value is _MISSING:
        return False
    if op == "eq" and callable(wanted):
        return bool(wanted(value))
    try:
        return bool(_OPERATORS[op](value, wanted))
    except (TypeError, ValueError):
        return False


def _hashable(value, name: str):
    """Return ``value`` as a dict key (arrays and lists become tuples, NumPy scalars Python ones)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list):
        value = tuple(_hashable(v, name) for v in value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"groupby: {name} gives an unhashable {type(value).__name__}, which cannot be a group"
        ) from None
    return value


def _is_light(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.size <= _LIGHT_ARRAY
    if isinstance(value, (str, bytes)):
        return len(value) <= _LIGHT_TEXT
    if isinstance(value, (list, tuple)):
        return len(value) <= _LIGHT_ARRAY
    return True


class _MetadataRecord:
    """The small metadata items of a file, kept after its image has left the cache."""

    __slots__ = ("heavy", "light")

    def __init__(self, metadata: Mapping):
        self.light = {k: v for k, v in metadata.items() if _is_light(v)}
        self.heavy = frozenset(k for k in metadata if k not in self.light)


class _FolderLink:
    """Keeps what is assigned to a document of a folder (``folder[i].image = a``) by pinning the document.

    Without it such a change would live only as long as the document stays in
    the cache, and be lost without a word when the cache drops it.
    """

    __slots__ = ("folder", "index")

    def __init__(self, folder, index: int):
        self.folder, self.index = folder, index

    def assign(self, doc: ImageFile, name: str, value) -> None:
        link = doc.__dict__.pop("_view_of", None)
        try:
            setattr(doc, name, value)
        finally:
            if link is not None:
                doc.__dict__["_view_of"] = link
        if self.folder._live(self.index) is doc:
            self.folder._pin(self.index, doc)


# --------------------------------------------------------------------- each
class _Each:
    """``folder.each``: apply an image function, or any callable, to every image of a folder."""

    def __init__(self, folder: ImageFolder):
        self._folder = folder

    def __call__(self, func: Callable, *args, **kwargs) -> list:
        """Call ``func(document, *args, **kwargs)`` for every document; return the results in file order.

        A document that ``func`` changes detectably (its image replaced, as every
        image function does, or a metadata item set or removed) is pinned in
        memory so the change is kept (see the module notes).  Changes made by
        writing into the pixel array in place are not detected: assign the
        document back (``folder[i] = doc``) to keep those.
        """
        if not callable(func):
            raise TypeError(f"each: expected a callable, not {type(func).__name__}")
        folder = self._folder
        policy = folder._policy(None, "each")

        def call(index):
            document = folder._get(index)
            image, items = document.image, dict(document.metadata)
            result = func(document, *args, **kwargs)
            after = dict(document.metadata)
            changed = document.image is not image or after.keys() != items.keys()
            if changed or any(after[k] is not v for k, v in items.items()):
                folder._pin(index, document)
            return result

        return folder._each_file(policy, call)

    def __setattr__(self, name: str, value):
        if name == "_folder":
            object.__setattr__(self, name, value)
            return
        if name not in ("image", "mask", "metadata", "filename"):
            raise AttributeError(
                f"each.{name} = ...: each applies functions to the documents; only image, mask, metadata and "
                "filename can be set on every document (e.g. folder.each.mask = m)"
            )
        folder = self._folder
        for index in range(len(folder)):
            document = folder._get(index)
            try:
                setattr(document, name, value)
            except Exception as err:
                _raise_named(err, str(folder._paths[index]))
            folder._pin(index, document)  # kept in memory: the change is not lost when the cache drops it

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        from .funcs._binding import registered

        functions = registered()
        if name not in functions:
            raise AttributeError(
                f"each.{name}: not a registered image function (use folder.each(func) for any callable); "
                f"known: {', '.join(sorted(functions))}"
            )

        def apply(*args, **kwargs):
            return self._folder._apply(name, args, kwargs)

        apply.__name__ = name
        apply.__qualname__ = f"ImageFolder.each.{name}"
        apply.__doc__ = (
            f"Apply ``{name}`` to every image of the folder in place; return the folder "
            f"(or the list of results when they are not images).\n\n{functions[name].__doc__ or ''}"
        )
        return apply

    def __dir__(self):
        from .funcs._binding import registered

        return sorted(registered())

    def __repr__(self):
        return f"<each of {self._folder!r}>"


# -------------------------------------------------------------------- folder
def _not_a_file(path: Path) -> str | None:
    """Say why a name a pattern matched is not a file to read (None for a folder, which is not a file either)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a loop of symbolic links"
        return "a symbolic link to nothing" if path.is_symlink() else f"cannot be read: {err.strerror}"
    if stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "a device, not a regular file"


class ImageFolder:
    """The image files of a directory, loaded lazily.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        The folder to look in.  Without it the folder is empty: add files and
        documents with :meth:`add`.
    pattern : str or sequence of str, optional
        Glob pattern(s) of the file names (``["*.tif", "*.png"]``); a pattern may
        hold sub-folders (``"run*/*.png"``).  Hidden files (names starting with a
        dot) are left out.  The default is every file whose extension a
        registered format claims (``*.tif``, ``*.png``, ``*.hdf5``, ``*.dm3``, ...;
        sidecars such as ``.npy.json`` are not images and are not listed).
    recursive : bool, default False
        Also look in every sub-folder.
    cache_size : int, default 32
        How many loaded documents to keep (least recently used ones are dropped
        first); ``0`` keeps none.  Changed documents are kept apart from the
        cache (see the module notes).
    errors : {"raise", "skip", "warn"}, default "raise"
        What a file that cannot be loaded or used does in every folder-wide
        operation (:meth:`mean`, :meth:`montage`, :meth:`select`, ...), unless
        the call says otherwise: ``"raise"`` stops with an error naming the
        file; ``"skip"`` leaves it out and ``"warn"`` also warns.  The files
        left out, with their reasons, are in :attr:`skipped` (and in
        ``result.skipped``).
    **load_kwargs
        Passed to :func:`stonerimg.load` for every file (e.g. ``fmt="kerr"``,
        ``regrid=True``).  An option that no format of the listed files takes is
        a TypeError here, when the folder is made.

    Attributes
    ----------
    unreadable : list of (pathlib.Path, str)
        Names the patterns matched that are not files to read - FIFOs, sockets,
        devices, loops of symbolic links, links to nothing - with the reason.
        They are never opened (a FIFO would block); each is logged as a warning
        and reported as failed by :meth:`convert`.

    Raises
    ------
    FileNotFoundError
        If ``directory`` does not exist.
    NotADirectoryError
        If it is a file.
    TypeError
        If ``load_kwargs`` holds an option no format of these files takes.

    Notes
    -----
    The files are listed once, when the folder is made, and sorted naturally
    (``file2`` before ``file10``) on their path relative to ``directory``.  A file
    is named by that relative path (``"sub/scan_3.tif"``, with ``/``) or, when no
    other file has the same, by its base name.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from stonerimg import ImageArray
    >>> tmp = tempfile.mkdtemp()
    >>> for i in (1, 2, 10):
    ...     _ = ImageArray(np.full((4, 6), i, np.uint16), metadata={"run": i}).save(f"{tmp}/scan{i}.tif")
    >>> folder = ImageFolder(tmp)
    >>> len(folder), folder.names
    (3, ['scan1.tif', 'scan2.tif', 'scan10.tif'])
    >>> folder["scan10.tif"]["run"], [im["run"] for im in folder.select(run__gt=1)]
    (10, [2, 10])
    """

    def __init__(
        self,
        directory=None,
        pattern: str | Sequence[str] | None = None,
        recursive: bool = False,
        *,
        cache_size: int = 32,
        errors: str = "raise",
        **load_kwargs,
    ):
        if directory is None:  # an empty folder, to add files and documents to
            from .formats import check_options

            check_options(load_kwargs, fmt=load_kwargs.get("fmt"), cls=load_kwargs.get("cls"))
            self._setup(None, [], False, [], [], cache_size, load_kwargs, errors)
            return
        root = Path(os.fspath(directory))
        if not root.exists():
            raise FileNotFoundError(errno.ENOENT, "directory: no such folder", str(root))
        if not root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "directory: not a folder", str(root))
        if pattern is None:
            pattern = _readable_patterns()
        patterns = [pattern] if isinstance(pattern, (str, os.PathLike)) else list(pattern)
        if not patterns or not all(isinstance(p, (str, os.PathLike)) for p in patterns):
            raise TypeError(f"pattern: expected a glob pattern or a list of them, not {pattern!r}")
        patterns = [os.fspath(p) for p in patterns]
        found: dict[str, Path] = {}
        unreadable: dict[str, tuple[Path, str]] = {}
        for pat in patterns:
            for path in root.rglob(pat) if recursive else root.glob(pat):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.is_file():
                    found.setdefault(relative.as_posix(), path)
                elif (why := _not_a_file(path)) is not None:
                    unreadable.setdefault(relative.as_posix(), (path, why))
        names = sorted(found, key=natural_key)
        from .formats import check_options

        check_options(load_kwargs, fmt=load_kwargs.get("fmt"), paths=found.values(), cls=load_kwargs.get("cls"))
        self._setup(root, patterns, bool(recursive), [found[n] for n in names], names, cache_size, load_kwargs, errors)
        self.unreadable = [unreadable[n] for n in sorted(unreadable, key=natural_key)]
        for path, why in self.unreadable:
            logger.warning("%s: not listed: %s", path, why)

    def _setup(self, root, patterns, recursive, paths, names, cache_size, load_kwargs, errors="raise") -> None:
        self._errors = check_errors(errors)
        self._skipped: tuple[Skipped, ...] = ()
        if isinstance(cache_size, bool) or not isinstance(cache_size, numbers.Integral) or cache_size < 0:
            raise ValueError(f"cache_size: must be an int >= 0, not {cache_size!r}")
        self._root = root
        self._patterns = list(patterns)
        self._recursive = recursive
        self._paths: list[Path] = list(paths)
        self._names: list[str] = list(names)
        self._index = {name: i for i, name in enumerate(self._names)}
        self._by_base: dict[str, list[int]] = {}
        for i, path in enumerate(self._paths):
            self._by_base.setdefault(path.name, []).append(i)
        self._cache_size = int(cache_size)
        self._cache: OrderedDict[int, ImageFile] = OrderedDict()
        self._pinned: dict[int, ImageFile] = {}
        self._records: dict[int, _MetadataRecord] = {}
        self._shapes: dict[int, tuple[int, ...]] = {}
        self._load_kwargs = dict(load_kwargs)
        self.unreadable: list[tuple[Path, str]] = []

    def _subset(self, indices: Iterable[int]) -> ImageFolder:
        """Make a new folder over some of these files, sharing nothing mutable (changed documents are cloned)."""
        indices = list(indices)
        new = object.__new__(type(self))
        try:
            load_kwargs = _copy.deepcopy(self._load_kwargs)
        except Exception:
            load_kwargs = dict(self._load_kwargs)
        new._setup(
            self._root,
            self._patterns,
            self._recursive,
            [self._paths[i] for i in indices],
            [self._names[i] for i in indices],
            self._cache_size,
            load_kwargs,
            self._errors,
        )
        for position, i in enumerate(indices):
            if i in self._pinned:
                new._pinned[position] = self._pinned[i].clone
            elif i in self._records:
                new._records[position] = self._records[i]  # immutable
        return new

    # ------------------------------------------------------------- properties
    @property
    def directory(self) -> Path:
        """The folder the files were listed from."""
        return self._root

    @property
    def pattern(self) -> list[str]:
        """The glob patterns the files were listed with."""
        return list(self._patterns)

    @property
    def files(self) -> list[Path]:
        """The files, in order."""
        return list(self._paths)

    @property
    def names(self) -> list[str]:
        """The files' paths relative to :attr:`directory` (with ``/``), in order."""
        return list(self._names)

    @property
    def cache_size(self) -> int:
        """How many unchanged documents are kept loaded."""
        return self._cache_size

    @property
    def loaded(self) -> list[str]:
        """Names of the documents in memory now (the cache and the changed ones), in file order."""
        return [self._names[i] for i in sorted(set(self._cache) | set(self._pinned))]

    @property
    def images(self) -> Iterator[ImageFile]:
        """An iterator of the loaded documents, in file order, following the folder's :attr:`errors` policy.

        Unlike ``iter(folder)``, a file that cannot be loaded is left out (with
        ``errors="skip"``/``"warn"``) and listed in :attr:`skipped` once the
        iteration ends.
        """
        policy = self._policy(None, "images")
        try:
            for _index, document in self._documents(policy):
                yield document
        finally:
            self._finish(policy)

    @property
    def size(self) -> tuple[int, ...] | None:
        """The shape every image has, or None when they differ (or the folder is empty).

        Reads each file once (the shapes are remembered); a file that cannot be
        loaded follows the folder's :attr:`errors` policy.
        """
        policy = self._policy(None, "size")
        shapes = set()
        for index in range(len(self)):
            shape = self._shapes.get(index)
            if shape is None:
                document = policy.call(self._names[index], self._get, index)
                if document is SKIP:
                    continue
                shape = self._shapes[index] = tuple(document.shape)
            shapes.add(shape)
        self._finish(policy)
        return shapes.pop() if len(shapes) == 1 else None

    def add(self, item, name: str | None = None) -> ImageFolder:
        """Add a file or a document at the end of the folder; return the folder.

        Parameters
        ----------
        item : str, os.PathLike, ImageFile or ImageArray
            A file (loaded lazily, as the listed ones) or a document in memory
            (kept as a changed document: it is never written to a file, and
            :meth:`convert`, which reads files, reports it as failed;
            :meth:`reload` forgets it).
        name : str, optional
            Its name in the folder (default: a file's path relative to
            :attr:`directory`, or its own path; a document's file name, or
            ``"image_<n>"``).  Names are unique.

        Examples
        --------
        >>> import numpy as np
        >>> from stonerimg import ImageArray, ImageFile
        >>> folder = ImageFolder()
        >>> folder.add(ImageFile(np.zeros((4, 4)))).add(ImageArray(np.ones((4, 4))), name="ones")
        ImageFolder(None, pattern=[]) with 2 files
        >>> folder.names, float(folder.mean().data.mean())
        (['image_0', 'ones'], 0.5)
        """
        document = None
        if isinstance(item, ImageArray):
            item = ImageFile(item)
        if isinstance(item, ImageFile):
            document = item
            default = os.path.basename(document.filename) if document.filename else f"image_{len(self)}"
            path = Path(document.filename) if document.filename else Path(default)
        elif isinstance(item, (str, os.PathLike)):
            path = Path(os.fspath(item))
            if not path.is_file():
                raise FileNotFoundError(errno.ENOENT, "item: no such file", str(path))
            try:
                default = path.relative_to(self._root).as_posix() if self._root is not None else str(path)
            except ValueError:
                default = str(path)
        else:
            raise TypeError(f"item: a file path, an ImageFile or an ImageArray, not {type(item).__name__}")
        name = default if name is None else str(name)
        if name in self._index:
            raise ValueError(f"name: the folder already has a file named {name!r}")
        index = len(self._paths)
        self._paths.append(path)
        self._names.append(name)
        self._index[name] = index
        self._by_base.setdefault(path.name, []).append(index)
        if document is not None:
            self._pin(index, document)
        return self

    @property
    def modified(self) -> list[str]:
        """Names of the documents changed in memory (pinned; see the module notes)."""
        return [self._names[i] for i in sorted(self._pinned)]

    @property
    def each(self) -> _Each:
        """Apply an image function to every image: ``folder.each.crop(10)``; or any callable: ``folder.each(f)``.

        ``folder.each.<name>(...)`` calls the registered image function ``name``
        on every document **in place** (the documents are pinned, see the module
        notes) and returns the folder, so calls chain; for functions whose result
        is not an image (``span``) it returns the list of results.
        ``folder.each(func, *args, **kwargs)`` returns
        ``[func(doc, *args, **kwargs) for doc in folder]``.  An error stops the
        loop and names the file; the documents before it keep their change.
        """
        return _Each(self)

    # ------------------------------------------------------------- loading
    def _load(self, index: int) -> ImageFile:
        from .formats import load

        return load(self._paths[index], **self._load_kwargs)

    def _get(self, index: int) -> ImageFile:
        """Return the document at ``index``: pinned, cached, or loaded now (and cached)."""
        if index in self._pinned:
            return self._pinned[index]
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        document = self._load(index)
        self._records[index] = _MetadataRecord(document.metadata)
        if self._cache_size:
            self._cache[index] = document
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return document

    def _pin(self, index: int, document: ImageFile) -> None:
        self._pinned[index] = document
        self._cache.pop(index, None)
        self._records.pop(index, None)
        self._shapes.pop(index, None)

    def _live(self, index: int) -> ImageFile | None:
        if index in self._pinned:
            return self._pinned[index]
        return self._cache.get(index)

    def _value(self, index: int, key: str):
        """``metadata[key]`` of a file without loading it again when its small items are on record."""
        document = self._live(index)
        if document is None:
            record = self._records.get(index)
            if record is not None and key not in record.heavy:
                return record.light.get(key, _MISSING)
            document = self._get(index)
        return document.metadata.get(key, _MISSING)

    def reload(self) -> ImageFolder:
        """Forget every loaded document and every change made in memory; return the folder."""
        self._cache.clear()
        self._pinned.clear()
        self._records.clear()
        self._shapes.clear()
        return self

    def show(self, **kwargs):
        """Browse the files (each loaded when shown) with widgets: see :func:`stonerimg.notebook.viewer.show`."""
        from .notebook.viewer import show

        return show(self, **kwargs)

    # ------------------------------------------------------------- container
    def __len__(self) -> int:
        return len(self._paths)

    def __iter__(self) -> Iterator[ImageFile]:
        for index in range(len(self)):
            yield self._get(index)

    def __contains__(self, name) -> bool:
        try:
            self._position(name)
        except (KeyError, IndexError, TypeError):
            return False
        return True

    def _position(self, key) -> int:
        """Index of a file given by position, relative path or unique base name."""
        if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool):
            index = int(key)
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} is out of range for a folder of {len(self)} files")
            return index % len(self)
        if isinstance(key, (str, os.PathLike)):
            path = Path(os.fspath(key))
            if path.is_absolute() and self._root is not None:
                try:
                    path = path.relative_to(self._root)
                except ValueError:
                    raise KeyError(f"{key}: not a file of this folder ({self._root})") from None
            name = path.as_posix()
            if name in self._index:
                return self._index[name]
            matches = self._by_base.get(name, [])
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise KeyError(
                    f"{name!r} names {len(matches)} files: {', '.join(self._names[i] for i in matches)}; "
                    "give the path relative to the folder"
                )
            raise KeyError(f"{name!r}: no such file in this folder ({self._root})")
        raise TypeError(f"folder index: expected an int, a file name, a slice or a list, not {type(key).__name__}")

    def __getitem__(self, key):
        """``folder[i]`` or ``folder["name"]``: a document; ``folder[a:b]`` or ``folder[[...]]``: a new folder."""
        if isinstance(key, slice):
            return self._subset(range(len(self))[key])
        if isinstance(key, (list, np.ndarray)):
            keys = np.asarray(key) if isinstance(key, np.ndarray) else key
            if isinstance(keys, np.ndarray) and keys.dtype == bool:
                if keys.shape != (len(self),):
                    raise IndexError(f"a boolean index must have {len(self)} values, not shape {keys.shape}")
                return self._subset(np.flatnonzero(keys).tolist())
            return self._subset(self._position(k) for k in keys)
        index = self._position(key)
        document = self._get(index)
        document._view_of = _FolderLink(self, index)  # an assignment to it is kept (pinned), not dropped
        return document

    def __setitem__(self, key, document) -> None:
        """Replace a file's document in memory (it is pinned, see the module notes); the file is not changed."""
        if not isinstance(document, ImageFile):
            raise TypeError(f"folder[...] = value: the value must be an ImageFile, not {type(document).__name__}")
        self._pin(self._position(key), document)

    def __repr__(self) -> str:
        pattern = self._patterns[0] if len(self._patterns) == 1 else self._patterns
        recursive = ", recursive=True" if self._recursive else ""
        root = None if self._root is None else str(self._root)
        return f"{type(self).__name__}({root!r}, pattern={pattern!r}{recursive}) with {len(self)} files"

    def _repr_html_(self) -> str:
        """Return the notebook view: the files and the key facts of those already loaded (no file is read)."""
        from .notebook.repr import folder_html

        return folder_html(self)

    # ------------------------------------------------------------- selection
    def filter(self, func: Callable[[ImageFile], bool], *, errors: str | None = None) -> ImageFolder:
        """Return a new folder of the files for which ``func(document)`` is true.

        Parameters
        ----------
        func : callable
            ``func(ImageFile) -> bool``; every file is loaded (through the cache).
        errors : {"raise", "skip", "warn"}, optional
            What a file that cannot be loaded (or on which ``func`` fails) does:
            see :meth:`average`.  A skipped file is not in the result.
        """
        if not callable(func):
            raise TypeError(f"func: expected a callable, not {type(func).__name__}")
        policy = self._policy(errors, "filter")
        keep = []
        for index, name in enumerate(self._names):
            if policy.call(name, lambda i=index: bool(func(self._get(i)))) is True:
                keep.append(index)
        return self._finish(policy, self._subset(keep))

    def select(self, *any_of: Mapping, errors: str | None = None, **conditions) -> ImageFolder:
        """Return a new folder of the files whose metadata meet the conditions.

        Parameters
        ----------
        *any_of : mapping
            Groups of conditions (``{"collection.polarization.value__gt": 0}``, for
            keys with dots); a file must meet every condition of at least one group.
        **conditions
            Conditions every file must meet.  ``key=value`` asks for equality (or,
            when ``value`` is callable, for ``value(metadata[key])`` to be true);
            ``key__op=value`` compares with ``op`` one of ``eq``, ``ne``, ``gt``,
            ``lt``, ``ge``, ``le``, ``contains`` (``value in metadata[key]``),
            ``in`` (``metadata[key]`` is one of ``value``) or ``between``
            (``low <= metadata[key] <= high`` for ``value = (low, high)``).
        errors : {"raise", "skip", "warn"}, optional
            What a file whose metadata cannot be read does (see :meth:`average`);
            a skipped file is not in the result.  (A metadata key named
            ``errors`` is reached with a dict: ``select({"errors": ...})``.)

        Returns
        -------
        ImageFolder
            The matching files in their order; a file without the key, or whose
            value cannot be compared, does not match.

        Examples
        --------
        ``folder.select(field__lt=0)``,
        ``folder.select({"collection.polarization.value__gt": 0})``,
        ``folder.select({"energy": 706.8}, {"energy": 708.2}, sample="Py")``.
        """
        for group in any_of:
            if not isinstance(group, Mapping):
                raise TypeError(f"select: positional arguments are dicts of conditions, not {type(group).__name__}")
        required = [(*_parse_condition(k), v) for k, v in conditions.items()]
        groups = [[(*_parse_condition(k), v) for k, v in group.items()] for group in any_of]

        def meets(index, conds):
            return all(_matches(self._value(index, key), op, wanted) for key, op, wanted in conds)

        policy = self._policy(errors, "select")
        keep = []
        for index, name in enumerate(self._names):
            chosen = policy.call(
                name, lambda i=index: meets(i, required) and (not groups or any(meets(i, g) for g in groups))
            )
            if chosen is True:
                keep.append(index)
        return self._finish(policy, self._subset(keep))

    def groupby(self, key: str | Callable[[ImageFile], Any], *, errors: str | None = None) -> FolderGroups:
        """Split the folder by a metadata value or by what a function gives.

        Parameters
        ----------
        key : str or callable
            A metadata key (files without it go to the group ``None``) or
            ``func(ImageFile) -> value``.  Arrays and lists become tuples.
        errors : {"raise", "skip", "warn"}, optional
            What a file that cannot be loaded (or on which ``key`` fails) does
            (see :meth:`average`); a skipped file is in no group.

        Returns
        -------
        FolderGroups
            A mapping ``{value: ImageFolder}`` with the values sorted when they can be.
        """
        if isinstance(key, str):

            def value_of(index):
                value = self._value(index, key)
                return None if value is _MISSING else value

            what = f"metadata {key!r}"
        elif callable(key):

            def value_of(index):
                return key(self._get(index))

            what = getattr(key, "__name__", "the key function")
        else:
            raise TypeError(f"groupby: key must be a metadata key or a callable, not {type(key).__name__}")
        policy = self._policy(errors, "groupby")
        members: dict[Any, list[int]] = {}
        for index, name in enumerate(self._names):
            value = policy.call(name, lambda i=index: _hashable(value_of(i), f"{what} of {self._names[i]}"))
            if value is not SKIP:
                members.setdefault(value, []).append(index)
        groups = FolderGroups({value: self._subset(indices) for value, indices in _sorted_items(members)}, key=key)
        for group in groups.values():
            group._skipped = policy.report()
        return self._finish(policy, groups)

    def metadata(self, keys: str | Sequence[str] | None = None, *, errors: str | None = None):
        """Return a table of metadata items across the files.

        Parameters
        ----------
        keys : str or sequence of str, optional
            The metadata keys (columns).  Default: every key whose value is a
            number, a string or a bool in every file.
        errors : {"raise", "skip", "warn"}, optional
            What a file whose metadata cannot be read does (see
            :meth:`average`); a skipped file has no row, and is listed in
            :attr:`skipped` (and, for a DataFrame, in ``table.attrs["skipped"]``).

        Returns
        -------
        pandas.DataFrame or numpy.ndarray
            With pandas installed, a DataFrame indexed by file name (relative to
            the folder) with one column per key, missing values ``None``/NaN.
            Without pandas, a NumPy structured array with a ``file`` field and one
            field per key: numbers as float64 (int64 when all are integers and
            none is missing; a missing number is NaN), bools, strings as unicode
            (a missing string is ``""``), anything else as objects.
        """
        policy = self._policy(errors, "metadata")
        rows = [i for i, name in enumerate(self._names) if policy.call(name, self._value, i, "") is not SKIP]
        if keys is None:
            keys = self._common_scalar_keys(rows)
        elif isinstance(keys, str):
            keys = [keys]
        else:
            keys = list(keys)
            if not all(isinstance(k, str) for k in keys):
                raise TypeError(f"keys: metadata keys are strings, not {keys!r}")
        columns = {k: [self._value(i, k) for i in rows] for k in keys}
        names = [self._names[i] for i in rows]
        self._finish(policy)
        try:
            import pandas
        except ImportError:
            return _structured_table(names, columns)
        frame = pandas.DataFrame(
            {k: [None if v is _MISSING else v for v in values] for k, values in columns.items()},
            index=pandas.Index(names, name="file"),
        )
        frame.attrs["skipped"] = self._skipped
        return frame

    def _common_scalar_keys(self, rows: Sequence[int]) -> list[str]:
        keys: list[str] | None = None
        for index in rows:
            document = self._live(index)
            items = document.metadata if document is not None else None
            if items is None:
                record = self._records.get(index)
                items = record.light if record is not None else self._get(index).metadata
            scalar = [k for k, v in items.items() if _is_scalar(v)]
            keys = scalar if keys is None else [k for k in keys if k in set(scalar)]
        return keys or []

    # ------------------------------------------------------------- processing
    def _apply(self, name: str, args: tuple, kwargs: dict, errors: str | None = None):
        """Apply the registered image function ``name`` in place to every document."""
        policy = self._policy(errors, f"each.{name}")

        def call(index):
            document = self._get(index)
            before = document.image
            result = getattr(document, name)(*args, **kwargs)
            if document.image is not before:
                self._pin(index, document)
            return result

        results = self._each_file(policy, call)
        if all(isinstance(r, ImageFile) for r in results):
            return self
        return results

    def map(
        self,
        func: Callable[[ImageFile], Any],
        *,
        workers: int = 0,
        errors: str = "raise",
        progress: bool | None = None,
        timeout: float | None = 60.0,
        client=None,
    ) -> list:
        """Run ``func(document)`` over the files and return the results in file order.

        Parameters
        ----------
        func : callable
            ``func(ImageFile) -> result``.  It gets a freshly loaded document (or
            a copy of a changed one), so it cannot change the folder.  In worker
            processes its result must be picklable.
        workers : int, default 0
            ``0`` runs here; ``N >= 1`` runs in ``N`` worker processes (each loads
            its own files).  With the ``spawn`` start method (Windows, macOS)
            ``func`` must be defined at module level.
        errors : {"raise", "skip", "warn", "collect"}, default "raise"
            What a failing file gives: ``"raise"`` raises the first error (its
            message names the file) and stops; ``"skip"`` leaves the file out of
            the results (listed in :attr:`skipped`, and logged); ``"warn"`` does
            the same with a warning; ``"collect"`` puts the exception (naming
            the file) in its place.
        progress : bool, optional
            Show a tqdm progress bar; by default shown for more than
            :data:`PROGRESS_THRESHOLD` files when stderr is a terminal.
        timeout : float or None, default 60
            Seconds one file may take; a file that takes longer fails with
            ``TaskTimeoutError`` (naming it).  In a worker process the worker is
            replaced; with ``workers=0`` the file's Python code is interrupted
            (``SIGALRM``: in the main thread, when nothing else uses that signal;
            a call stuck inside a C library needs ``workers >= 1``).  ``None``:
            no limit.  With ``client``: seconds without any file finishing before
            the unfinished ones are cancelled.
        client : dask.distributed.Client, optional
            Run every file as a dask task on this cluster instead (the workers
            load the files, so they must see the same paths).

        Returns
        -------
        list
            One result per file (fewer with ``errors="skip"``).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from stonerimg import ImageArray
        >>> tmp = tempfile.mkdtemp()
        >>> for i in range(3):
        ...     _ = ImageArray(np.full((4, 4), i, np.uint8)).save(f"{tmp}/f{i}.npy")
        >>> ImageFolder(tmp, "*.npy").map(lambda im: int(im.data.sum()), workers=2)
        [0, 16, 32]
        """
        errors = check_errors(errors, also=("collect",))
        workers = _check_workers(workers, client)
        timeout = _check_timeout(timeout)
        if not callable(func):
            raise TypeError(f"func: expected a callable, not {type(func).__name__}")
        items = [(str(path), self._pinned.get(i)) for i, path in enumerate(self._paths)]
        if workers == 0 and client is None:
            items = [(p, None if d is None else d.clone) for p, d in items]
        task = _MapTask(func, self._load_kwargs)
        policy = Policy("raise" if errors == "collect" else errors, "map")
        results: dict[int, Any] = {}
        bar = _progress_bar(len(items), progress, "map")
        outcomes = _outcomes(task, items, workers=workers, timeout=timeout, client=client)
        try:
            for outcome in outcomes:
                bar.update(1)
                if outcome.ok:
                    results[outcome.index] = outcome.value
                    continue
                error = _name_error(outcome.error, items[outcome.index][0])
                if errors == "raise":
                    raise error
                if errors == "collect":
                    results[outcome.index] = error
                else:
                    policy.record(self._names[outcome.index], error)
        finally:
            outcomes.close()  # stops the workers at once after an error or Ctrl-C
            bar.close()
        policy.skipped.sort(key=lambda entry: self._index.get(entry.name, 0))
        self._finish(policy)
        return [results[i] for i in range(len(items)) if i in results]

    def convert(
        self,
        out_dir,
        fmt: str = "tiff",
        *,
        workers: int = 0,
        overwrite: bool = False,
        timeout: float | None = 60.0,
        process=None,
        client=None,
        progress: bool | None = None,
    ) -> ConversionReport:
        """Write every file in another format, one output per input.

        Parameters
        ----------
        out_dir : str or os.PathLike
            Output folder (made if missing); each file keeps its path relative
            to the folder, with the extension of ``fmt``.
        fmt : {"tiff", "png", "npy", "hdf5"} or a registered format that saves
            ``"hdf5"`` writes NXstxm files and is for STXM images only.
        workers : int, default 0
            ``N >= 1`` converts each file in one of ``N`` worker processes, so a
            file that makes a library hang or crash costs that file only (reported
            ``"timed out after X s"`` or ``"worker crashed (signal N)"``), not the
            batch.  ``0`` converts in one such supervised worker when there is a
            ``timeout`` (the default), else in this process.
        overwrite : bool, default False
            Replace existing outputs; otherwise their inputs are skipped.
        timeout : float or None, default 60
            Seconds one file may take (see :meth:`map` for ``client``); ``None``
            with ``workers=0`` converts in this process with no deadline.
        process : list of (name, args, kwargs), optional
            Registered image functions applied, in order, before saving, e.g.
            ``[("crop", (10,), {}), ("asfloat", (), {})]`` (a bare name is allowed).
        client : dask.distributed.Client, optional
            Convert as dask tasks on this cluster.
        progress : bool, optional
            Show a progress bar (default: for long runs on a terminal).

        Returns
        -------
        ConversionReport

        Raises
        ------
        ValueError
            For an unknown ``fmt``, a ``process`` step that is not a registered
            image function, or bad ``workers``/``timeout``.

        Notes
        -----
        Inputs are read from disk: changes made in memory (:attr:`each`) are not
        included (use ``process``).  Metadata is kept (and ``history`` records
        the ``process`` steps).  Every output is written to a temporary file
        renamed into place, so a failure never leaves a truncated output; an
        output that would replace its input, or that two inputs would share,
        fails instead.
        """
        if self._pinned:
            from .errors import warn_user

            warn_user(
                f"convert reads the files from disk: the in-memory changes of {len(self._pinned)} "
                "document(s) are not included (pass process= to apply functions while converting)"
            )
        jobs = [(path, PurePosixPath(name)) for path, name in zip(self._paths, self._names, strict=True)]
        report = _convert_jobs(
            jobs,
            out_dir,
            fmt=fmt,
            workers=workers,
            overwrite=overwrite,
            timeout=timeout,
            process=process,
            client=client,
            progress=progress,
            load_kwargs=self._load_kwargs,
        )
        if self.unreadable:  # FIFOs, sockets, symbolic link loops matched by the pattern: reported, never opened
            report = dataclasses.replace(report, failed=list(self.unreadable) + report.failed)
        return report

    # ------------------------------------------------------------- errors policy
    @property
    def errors(self) -> str:
        """The folder's errors policy: what its folder-wide operations do with a bad file (see :meth:`mean`)."""
        return self._errors

    @errors.setter
    def errors(self, value: str) -> None:
        self._errors = check_errors(value)

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """The files the last folder-wide operation left out (with ``errors="skip"``/``"warn"``), and why.

        A folder made by :meth:`filter`, :meth:`select` or :meth:`groupby`
        holds the files left out when it was made.
        """
        return self._skipped

    def _policy(self, errors: str | None, what: str) -> Policy:
        return Policy(self._errors if errors is None else errors, what)

    def _finish(self, policy: Policy, result=None):
        """Record what ``policy`` skipped on the folder and on ``result`` (``result.skipped``); return ``result``."""
        self._skipped = policy.report()
        if isinstance(result, ImageFolder):
            result._skipped = self._skipped
        elif result is not None and not isinstance(result, (list, tuple, dict)):
            try:
                result.skipped = self._skipped
            except AttributeError:  # a result that takes no attributes (a NumPy table): the folder has it
                pass
        return result

    def _each_file(self, policy: Policy, call: Callable[[int], Any]) -> list:
        """Return ``[call(index) ...]`` over the files, in order, without those ``policy`` skips; record them."""
        results = []
        for index, name in enumerate(self._names):
            result = policy.call(name, call, index)
            if result is not SKIP:
                results.append(result)
        self._finish(policy)
        return results

    def _documents(self, policy: Policy) -> Iterator[tuple[int, ImageFile]]:
        """Yield ``(index, document)`` of every file that loads; the others go to ``policy``."""
        for index in range(len(self)):
            document = policy.call(self._names[index], self._get, index)
            if document is not SKIP:
                yield index, document

    @staticmethod
    def _none_left(policy: Policy, what: str, root) -> ValueError:
        reasons = "; ".join(str(s) for s in policy.skipped[:5])
        return ValueError(f"{what}: no file of {root} could be used ({reasons})")

    # ------------------------------------------------------------- statistics
    def _weight_of(self, weights):
        """Return ``(index, document) -> weight`` for the ``weights`` argument (checked up front where possible)."""
        if weights is None:
            return lambda index, document: 1.0
        if isinstance(weights, str):

            def from_metadata(index, document):
                if weights not in document.metadata:
                    raise KeyError(f"weights: no metadata {weights!r}")
                return document.metadata[weights]

            return from_metadata
        if callable(weights):
            return lambda index, document: weights(document)
        values = np.asarray(weights, dtype=float).ravel()
        if len(values) != len(self):
            raise ValueError(f"weights: {len(values)} values for {len(self)} files")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("weights: must be finite and >= 0")
        return lambda index, document: values[index]

    def _accumulate(self, accumulator: RunningMean, weights, policy: Policy):
        """Add every usable file to ``accumulator``; return (first document, metadata of each file used)."""
        if not len(self):
            raise ValueError(f"{policy.what}: the folder has no files")
        weight_of = self._weight_of(weights)
        first: ImageFile | None = None
        records = []  # the metadata of each file used (its pixels are let go as soon as they are added)

        def add(index):
            document = self._get(index)
            try:
                weight = float(weight_of(index, document))
            except (TypeError, ValueError) as err:
                raise TypeError(f"weights: must be numbers ({err})") from None
            image = document.image
            accumulator.add(image.data, image._mask, weight)
            return document

        for index in range(len(self)):
            document = policy.call(self._names[index], add, index)
            if document is not SKIP:
                first = document if first is None else first
                records.append(document.metadata)
        if first is None:
            raise self._none_left(policy, policy.what, self._root)
        return first, records

    def _statistic(self, values, masked, template, records, description: str, policy: Policy) -> ImageFile:
        from ._frames import statistic_image

        metadata = common_items(records, skip=("history",))
        result = statistic_image(values, masked, metadata=metadata, history=description, cls=type(template))
        return self._finish(policy, result)

    def average(self, weights=None, *, errors: str | None = None) -> ImageFile:
        """Compute the weighted mean of every pixel over the files, ignoring masked pixels.

        The files are read one at a time (running sums), so the folder need not
        fit in memory.

        Parameters
        ----------
        weights : sequence of float, str or callable, optional
            One weight (>= 0) per file, a metadata key holding it, or
            ``func(ImageFile) -> weight``.  Default: equal weights.
        errors : {"raise", "skip", "warn"}, optional
            What a file that cannot be loaded or used (another shape, no weight)
            does: ``"raise"`` stops with an error naming it; ``"skip"`` leaves it
            out; ``"warn"`` leaves it out with a warning.  The skipped files and
            their reasons are in ``result.skipped`` (and :attr:`skipped`).
            Default: the folder's :attr:`errors`.

        Returns
        -------
        ImageFile
            An image of the first file's class: the mean of each pixel's
            unmasked values (masked where a pixel is masked in every file or its
            weights sum to zero), float64 (float frames keep their dtype).  Its
            metadata holds the items equal in every file used.
        """
        what = "mean" if weights is None else "average"
        policy = self._policy(errors, what)
        accumulator = RunningMean()
        template, records = self._accumulate(accumulator, weights, policy)
        values, masked = accumulator.result()
        description = f"{'mean' if weights is None else 'weighted average'} of {accumulator.n} images in {self._root}"
        return self._statistic(values, masked, template, records, description, policy)

    def mean(self, *, errors: str | None = None) -> ImageFile:
        """Compute the mean of every pixel over the files, ignoring masked pixels (see :meth:`average`)."""
        return self.average(errors=errors)

    def _spread(self, ddof: int, error: bool, errors, what: str) -> ImageFile:
        policy = self._policy(errors, what)
        accumulator = RunningVariance()
        template, records = self._accumulate(accumulator, None, policy)
        values, masked = accumulator.std(ddof, error=error)
        description = f"{what} (ddof={ddof}) of {accumulator.n} images in {self._root}"
        return self._statistic(values, masked, template, records, description, policy)

    def stddev(self, ddof: int = 1, *, errors: str | None = None) -> ImageFile:
        """Compute the standard deviation of every pixel over the files, ignoring masked pixels.

        Parameters
        ----------
        ddof : int, default 1
            Delta degrees of freedom: ``1`` the sample standard deviation, ``0``
            NumPy's default (as :meth:`ImageStack.stddev <stonerimg.ImageStack.stddev>`).
        errors : {"raise", "skip", "warn"}, optional
            As :meth:`average`.

        Returns
        -------
        ImageFile
            Masked where fewer than ``ddof + 1`` files have the pixel unmasked.
        """
        return self._spread(ddof, False, errors, "standard deviation")

    def stderr(self, ddof: int = 1, *, errors: str | None = None) -> ImageFile:
        """Compute the standard error of the mean of every pixel, ``stddev(ddof) / sqrt(count)``, masks respected."""
        return self._spread(ddof, True, errors, "standard error")

    def align(
        self,
        ref=0,
        *,
        method: str | None = None,
        box=None,
        upsample_factor: int | None = None,
        function: str = "align",
        errors: str | None = None,
        **kwargs,
    ) -> ImageFolder:
        """Register every image onto one reference, in place; return the folder.

        The same call as :meth:`ImageStack.align <stonerimg.ImageStack.align>`.

        Parameters
        ----------
        ref : int, str, ImageFile or array_like, default 0
            The reference: a file of the folder (position or name) as it is
            now, or an image.
        method : {"scharr", "phase"}, optional
            What is correlated (default: the function's, ``"scharr"`` for
            ``align``, ``"phase"`` for ``correct_drift``).
        box : optional
            The region in which the shift is measured (any form
            :func:`~stonerimg.funcs.parse_box` accepts); the whole image moves.
        upsample_factor : int, optional
            The shift is found to ``1 / upsample_factor`` of a pixel (default:
            the function's, 100 for ``align``, 50 for ``correct_drift``).
        function : {"align", "correct_drift"}, default "align"
            The registration function (:func:`~stonerimg.funcs.registration.align`
            or :func:`~stonerimg.funcs.registration.correct_drift`).
        errors : {"raise", "skip", "warn"}, optional
            As :meth:`average`: a file that cannot be loaded or registered is
            left as it is (and listed in :attr:`skipped`) or stops the run.
        **kwargs
            Passed to the function (``order``, ``mode``, ``prefilter``, ...).

        Notes
        -----
        Each image records its shift (``align.shift``, or ``correct_drift`` and
        ``drift_shift``) and ``translation_limits``; the documents are pinned
        (see the module notes).  Every shift is measured before any image is
        changed.
        """
        from ._frames import reference_image, register_frames, registration_options

        options = registration_options(method, box, upsample_factor)
        policy = self._policy(errors, function)
        if isinstance(ref, (numbers.Integral, str, os.PathLike)) and not isinstance(ref, bool):
            reference = reference_image(self[ref])
        else:
            reference = reference_image(ref)
        documents: dict[int, ImageFile] = {}

        def frame(index):
            documents[index] = self._get(index)
            return documents[index].image

        frames = [(name, lambda i=i: frame(i)) for i, name in enumerate(self._names)]
        results = register_frames(frames, reference, function=function, policy=policy, **options, **kwargs)
        for index, result in results:
            documents[index]._take_result(result, (reference,))
            self._pin(index, documents[index])
        return self._finish(policy, self)

    def crop(self, *box, copy: bool = False) -> ImageFolder:
        """Crop every image to a box, in place (``folder.each.crop``); return the folder.

        The same call as :meth:`ImageStack.crop <stonerimg.ImageStack.crop>`:
        any box form :func:`~stonerimg.funcs.parse_box` accepts, as one argument
        or four, read from each image (fractions and metadata keys such as
        ``"translation_limits"`` are each image's own).  A file that cannot be
        loaded or cropped follows the folder's :attr:`errors` policy.
        """
        if len(box) == 1:
            box = box[0]
        elif len(box) not in (0, 4):
            raise TypeError(f"crop takes one box or 4 coordinates, not {len(box)} arguments")
        return self._apply("crop", (None if box == () else box,), {"copy": copy} if copy else {})

    def montage(
        self,
        *,
        columns: int | None = None,
        size: int | None = None,
        gap: int = 0,
        fill=0,
        normalise: bool = False,
        pad: int | None = None,
        errors: str | None = None,
    ) -> ImageFile:
        """Tile the images in a grid, row by row, for a quick look (``folder.montage(size=256).imshow()``).

        The same call, defaults and result as :meth:`ImageStack.montage
        <stonerimg.ImageStack.montage>`.

        Parameters
        ----------
        columns : int, optional
            Tiles per row (default: about square, ``ceil(sqrt(n))``).
        size : int or None, default None
            Shrink each image (every n-th pixel) until its longer side is at most
            ``size`` pixels; ``None`` keeps them whole.
        gap : int, default 0
            Pixels between tiles (``pad`` is another name for it).
        fill : scalar, default 0
            Value of the gaps, of the padding around smaller images and of the
            empty cells; those pixels are masked.
        normalise : bool, default False
            Scale each tile to 0..1 between its 0.5 and 99.5 percentiles, so
            images of different brightness can be compared by eye (the result is
            then float64).
        errors : {"raise", "skip", "warn"}, optional
            As :meth:`average`.

        Returns
        -------
        ImageFile
            In the images' common dtype; ``montage.names`` lists the files row
            by row, ``montage.grid`` gives ``(rows, columns)`` and
            ``montage.origins`` the ``(x, y)`` of each tile.
        """
        from ._frames import check_montage, montage, montage_tile

        if pad is not None:
            gap = pad
        columns, size, gap, normalise = check_montage(columns, size, gap, normalise)
        policy = self._policy(errors, "montage")
        if not len(self):
            raise ValueError("montage: the folder has no files to tile")
        tiles = []
        for index, name in enumerate(self._names):
            tile = policy.call(name, lambda i=index: montage_tile(self._get(i).image, size=size, normalise=normalise))
            if tile is not SKIP:
                tiles.append((name, tile))
        if not tiles:
            raise self._none_left(policy, "montage", self._root)
        history = f"montage(columns={columns}, size={size}, gap={gap}, normalise={normalise}) of {self._root}"
        return self._finish(policy, montage(tiles, columns=columns, gap=gap, fill=fill, history=history))

    def as_stack(self, *, on_disk: bool = False, errors: str | None = None):
        """Copy every image into one :class:`~stonerimg.stack.ImageStack` (they must share a shape).

        Parameters
        ----------
        on_disk : bool, default False
            Write the frames one at a time into a scratch disk stack (in
            :data:`stonerimg.config.disk_image_dir`, see :func:`stonerimg.empty`)
            instead of memory, so the folder may hold more than fits in memory;
            every frame must have frame 0's dtype or one that casts to it safely.
        errors : {"raise", "skip", "warn"}, optional
            As :meth:`average`: a file that cannot be loaded, or whose shape
            differs from the first good file's, is left out (``"skip"``,
            ``"warn"``) or stops the run.  ``ImageStack(folder)`` does the same
            with the folder's :attr:`errors`.
        """
        policy = self._policy(errors, "as_stack")
        frames = _StackSource(self, policy)
        if on_disk:
            from .disk import stack_on_disk

            stack = stack_on_disk(frames)
        else:
            from .stack import ImageStack

            stack = ImageStack(frames)  # streams: the stack copies one image at a time into its buffer
        return self._finish(policy, stack)


class _StackSource:
    """The good documents of a folder, one at a time, for a stack to copy (sized as the folder, an upper bound).

    A file that does not load, or whose shape or dtype the stack refuses,
    goes to the policy; the stack sees only the frames it can take.
    """

    def __init__(self, folder: ImageFolder, policy: Policy):
        self.folder = folder
        self.policy = policy

    def __len__(self) -> int:
        return len(self.folder)

    def __iter__(self) -> Iterator[ImageFile]:
        shape = None
        for index, document in self.folder._documents(self.policy):
            image = document.image
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                self.policy.call(
                    self.folder._names[index],
                    _refuse,
                    f"its shape {image.shape} differs from the first image's {shape}",
                )
                continue
            yield document


def _refuse(message: str) -> NoReturn:
    raise ValueError(message)


def _is_scalar(value) -> bool:
    return isinstance(value, (numbers.Number, str, bool, np.generic)) and not isinstance(value, complex)


def _sorted_items(members: dict) -> list:
    keys = list(members)
    present = [k for k in keys if k is not None]
    try:
        ordered = sorted(present) + ([None] if None in members else [])
    except TypeError:
        ordered = keys
    return [(k, members[k]) for k in ordered]


def _structured_table(names: list[str], columns: dict[str, list]) -> np.ndarray:
    """Build the metadata table as a NumPy structured array (without pandas)."""
    fields = [("file", f"U{max((len(n) for n in names), default=1) or 1}")]
    converted = {}
    for key, values in columns.items():
        present = [v for v in values if v is not _MISSING]
        missing = len(present) < len(values)
        if present and all(isinstance(v, (bool, np.bool_)) for v in present) and not missing:
            dtype, filled = np.dtype(bool), values
        elif present and all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present
        ):
            if missing:
                dtype, filled = np.dtype(np.float64), [np.nan if v is _MISSING else v for v in values]
            else:
                dtype, filled = np.dtype(np.int64), values
        elif present and all(
            isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in present
        ):
            dtype, filled = np.dtype(np.float64), [np.nan if v is _MISSING else v for v in values]
        elif present and all(isinstance(v, str) for v in present):
            dtype = np.dtype(f"U{max(len(v) for v in present) or 1}")
            filled = ["" if v is _MISSING else v for v in values]
        else:
            dtype, filled = np.dtype(object), [None if v is _MISSING else v for v in values]
        fields.append((key, dtype))
        converted[key] = filled
    table = np.empty(len(names), dtype=fields)
    table["file"] = names
    for key, filled in converted.items():
        if table.dtype[key].kind == "O":
            for i, v in enumerate(filled):
                table[key][i] = v
        else:
            table[key] = filled
    return table


class FolderGroups(Mapping):
    """The sub-folders of :meth:`ImageFolder.groupby`: a read-only mapping ``{value: ImageFolder}``.

    Examples
    --------
    ``groups = folder.groupby("polarization")``; ``groups[-1.0]`` is the folder of
    one polarization; ``groups.apply(lambda f: f.mean())`` averages each group.
    """

    def __init__(self, groups: dict, key=None):
        self._groups = dict(groups)
        self.key = key

    def __getitem__(self, value) -> ImageFolder:
        return self._groups[value]

    def __iter__(self):
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def apply(self, func: Callable[[ImageFolder], Any]) -> dict:
        """Return ``{value: func(sub_folder)}`` for every group."""
        return {value: func(folder) for value, folder in self._groups.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{value!r}: {len(folder)} files" for value, folder in self._groups.items())
        return f"FolderGroups({{{inner}}})"
