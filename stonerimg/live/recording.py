"""``Recorder``: write a session's results to an HDF5 file while it runs.

Layout of the file (one group per processor, named after it)::

    /                         attrs: format="stonerimg.live", version=1, source, started (ISO time)
    /<scalar processor>/trace  table: compound rows (t, frame, <column>, ...) - one per result
    /<profile processor>/rows  (n, width) float64, NaN-padded (width grows with the longest row)
    /<profile processor>/t, /frame
    /<image processor>/image   the last image (attrs t, frame), or with images="all":
    /<image processor>/images  (n, y, x) and /t, /frame
    /<processor>/errors        table (frame, t, error) of its failures, written at the end
    group attrs: kind, columns, done, dropped, errors, latency_median, latency_p95 (the final stats)

The writer thread appends what the sinks received every ``interval`` seconds and flushes
the file, so the numbers on disk are at most that old.  The file is written under a
temporary name beside ``path`` (``.<name>.<random>.h5``) and renamed to ``path`` when the
session stops, after the last results are written: ``path`` never holds a half-written
file, and a crash leaves the flushed temporary file to recover from.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["Recorder"]

logger = logging.getLogger(__name__)

_IMAGE_MODES = ("last", "all", "none")


class Recorder:
    """Writes the sinks of a :class:`~stonerimg.live.Session` to an HDF5 file (see the module notes).

    Made by :meth:`Session.record`; started and closed by the session.

    Parameters
    ----------
    session : Session
        The session whose sinks to write.
    path : str or os.PathLike
        The HDF5 file to make (replaced if it exists, when the session stops).
    images : {"last", "all", "none"}, default "last"
        For image processors: keep the last image, every image (an ``(n, y, x)``
        dataset; an image of another shape than the first is skipped with a warning),
        or none.
    interval : float, default 0.5
        Seconds between two writes.

    Attributes
    ----------
    error : str or None
        Why writing failed, if it did (the temporary file is then removed).
    skipped : int
        Images not written because their shape differed from the first.
    """

    def __init__(self, session, path, *, images: str = "last", interval: float = 0.5):
        if images not in _IMAGE_MODES:
            raise ValueError(f"images: must be one of {', '.join(_IMAGE_MODES)}, not {images!r}")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise ValueError(f"interval: must be a positive number of seconds, not {interval!r}")
        self.path = Path(os.fspath(path))
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise FileNotFoundError(2, "The folder to record into does not exist", str(folder))
        self.session = session
        self.images = images
        self.interval = float(interval)
        self.error: str | None = None
        self.skipped = 0
        self._taps = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = None

    def start(self) -> None:
        """Open a tap on every sink and start the writer thread."""
        if self._thread is not None:
            return
        import h5py  # noqa: F401 - fail here, in the caller's thread, if h5py is missing

        self._taps = {name: sink.tap() for name, sink in self.session.sinks.items()}
        self._started = datetime.now(timezone.utc).isoformat()
        self._thread = threading.Thread(target=self._run, name="stonerimg-live-recorder", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Write what is left, close the file and rename it to :attr:`path`."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the recording of %s did not finish within %g s", self.path, timeout)
        for tap in self._taps.values():
            tap.close()

    # ---------------------------------------------------------------------- writing
    def _run(self) -> None:
        import h5py

        from ..formats import atomic_path

        try:
            with atomic_path(self.path) as temp, h5py.File(temp, "w") as h5:
                h5.attrs["format"] = "stonerimg.live"
                h5.attrs["version"] = 1
                h5.attrs["source"] = self.session.source.describe()
                h5.attrs["started"] = self._started
                groups = {}
                for name, sink in self.session.sinks.items():
                    group = h5.create_group(name)
                    group.attrs["kind"] = sink.kind
                    if sink.kind == "scalar":
                        group.attrs["columns"] = list(sink.columns)
                    groups[name] = group
                while True:
                    stopping = self._stop.wait(self.interval)
                    for name, tap in self._taps.items():
                        self._write(groups[name], self.session.sinks[name], tap.take())
                    if stopping:
                        break
                    h5.flush()
                self._finish(h5, groups)
        except Exception as err:  # noqa: BLE001 - reported in .error and the log; the session goes on
            self.error = f"{type(err).__name__}: {err}"
            logger.error("recording to %s failed: %s", self.path, self.error, exc_info=True)

    def _write(self, group, sink, entries: list) -> None:
        if not entries:
            return
        t = np.array([e[0] for e in entries])
        frames = np.array([e[1] for e in entries], dtype=np.int64)
        if sink.kind == "scalar":
            dtype = np.dtype([("t", "f8"), ("frame", "i8")] + [(c, "f8") for c in sink.columns])
            rows = np.zeros(len(entries), dtype=dtype)
            rows["t"], rows["frame"] = t, frames
            values = np.array([e[2] for e in entries])
            for i, column in enumerate(sink.columns):
                rows[column] = values[:, i]
            _append(group, "trace", rows, maxshape=(None,), chunks=(1024,))
        elif sink.kind == "profile":
            width = max(len(e[2]) for e in entries)
            if "rows" in group and group["rows"].shape[1] > width:
                width = group["rows"].shape[1]
            block = np.full((len(entries), width), np.nan)
            for i, e in enumerate(entries):
                block[i, : len(e[2])] = e[2]
            _append(group, "rows", block, maxshape=(None, None), chunks=(32, 256), fillvalue=np.nan)
            _append(group, "t", t, maxshape=(None,), chunks=(1024,))
            _append(group, "frame", frames, maxshape=(None,), chunks=(1024,))
        elif self.images == "all":
            for when, number, image in entries:
                data = np.asarray(image)
                if "images" in group and group["images"].shape[1:] != data.shape:
                    self.skipped += 1
                    logger.warning(
                        "recording %s: the image of frame %d from %r has shape %s, not %s; not recorded",
                        self.path,
                        number,
                        group.name[1:],
                        data.shape,
                        group["images"].shape[1:],
                    )
                    continue
                _append(group, "images", data[None], maxshape=(None, *data.shape), chunks=(1, *data.shape))
                _append(group, "t", np.array([when]), maxshape=(None,), chunks=(1024,))
                _append(group, "frame", np.array([number], dtype=np.int64), maxshape=(None,), chunks=(1024,))
        elif self.images == "last":
            when, number, image = entries[-1]
            if "image" in group:
                del group["image"]
            dataset = group.create_dataset("image", data=np.asarray(image))
            dataset.attrs["t"], dataset.attrs["frame"] = when, number

    def _finish(self, h5, groups: dict) -> None:
        import h5py

        stats = self.session.stats()
        errors = {}
        for e in self.session.errors:
            errors.setdefault(e.processor, []).append(e)
        for name, group in groups.items():
            p = stats.processors[name]
            for key in ("done", "dropped", "errors", "rate", "latency_median", "latency_p95", "compute_median"):
                group.attrs[key] = getattr(p, key)
            if name in errors:
                dtype = np.dtype([("frame", "i8"), ("t", "f8"), ("error", h5py.string_dtype())])
                rows = np.array([(e.frame, e.time, e.error) for e in errors[name]], dtype=dtype)
                group.create_dataset("errors", data=rows)
        h5.attrs["frames"] = stats.frames
        h5.attrs["elapsed"] = stats.elapsed
        h5.attrs["skipped"] = stats.skipped


def _append(group, name: str, block: np.ndarray, *, maxshape, chunks, fillvalue=None) -> None:
    """Append ``block`` along axis 0 of ``group[name]`` (made on first use), widening other axes if needed."""
    if name not in group:
        kwargs = {} if fillvalue is None else {"fillvalue": fillvalue}
        group.create_dataset(name, data=block, maxshape=maxshape, chunks=chunks, **kwargs)
        return
    dataset = group[name]
    n = dataset.shape[0]
    shape = (n + block.shape[0], *(max(a, b) for a, b in zip(dataset.shape[1:], block.shape[1:], strict=True)))
    dataset.resize(shape)
    if block.ndim == 1:
        dataset[n:] = block
    else:
        dataset[(slice(n, None), *(slice(0, s) for s in block.shape[1:]))] = block


def describe_recording(path) -> dict | None:
    """Describe a file :class:`Recorder` wrote (what ``stonerimg info`` shows), or None for any other file.

    Returns
    -------
    dict or None
        ``file``, ``format`` (``"stonerimg.live"``), the file's attributes (``source``,
        ``started``, ``frames``, ``elapsed``, ...) and ``processors``: for each
        processor its final statistics (``kind``, ``done``, ``dropped``, ``errors``,
        ...) and ``datasets`` (name to shape).  Nothing but attributes and shapes
        is read.
    """
    from ..errors import FormatMismatch
    from ..formats import HDF5_MAGIC, _head
    from ..formats._hdf5 import open_hdf5

    path = Path(os.fspath(path))
    try:
        if not _head(path).startswith(HDF5_MAGIC):  # _head refuses FIFOs and devices before opening them
            return None
        root = open_hdf5(path)
    except (OSError, ValueError, FormatMismatch):  # not for us to say: load() reports what is wrong
        return None
    with root:
        if root.attrs.get("format") != "stonerimg.live":
            return None

        def plain(value):
            if isinstance(value, np.ndarray):
                return [plain(v) for v in value.tolist()]
            if isinstance(value, np.generic):
                value = value.item()
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

        report = {"file": str(path.absolute()), "format": "stonerimg.live"}
        report.update({key: plain(value) for key, value in root.attrs.items() if key != "format"})
        processors = {}
        for name, group in root.items():
            if not hasattr(group, "items"):
                continue
            entry = {key: plain(value) for key, value in group.attrs.items()}
            entry["datasets"] = {key: list(item.shape) for key, item in group.items() if hasattr(item, "shape")}
            processors[name] = entry
        report["processors"] = processors
    return report
