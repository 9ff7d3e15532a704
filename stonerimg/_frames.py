"""Operations over a sequence of frames, written once for ImageStack, ImageFolder and the disk stack.

:class:`~stonerimg.ImageStack`, :class:`~stonerimg.ImageFolder` and the disk
stack of :mod:`stonerimg.disk` are fronts: each turns itself into a sequence
of frames (views of a buffer, blocks read from a file, documents loaded one at
a time) and calls the plain functions here, so a fix lands everywhere at once.

- the errors policy (``errors="raise" | "skip" | "warn"``) of every
  folder-wide operation: :func:`check_errors`, :class:`Policy`, :class:`Skipped`;
- running statistics: :class:`RunningMean` (sums only) and
  :class:`RunningVariance` (weighted West/Welford), both mask-aware;
- :func:`common_items` and :func:`difference`: the metadata the frames share;
- :func:`montage`: tiles in a grid, one signature for stacks and folders;
- :func:`register_frames`: every frame registered onto one reference.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from .metadata import Metadata, _values_equal

__all__ = [
    "ERRORS",
    "Policy",
    "RunningMean",
    "RunningVariance",
    "Skipped",
    "check_errors",
    "common_items",
    "difference",
    "montage",
    "register_frames",
]

logger = logging.getLogger(__name__)

#: The values of every ``errors=`` keyword of a folder-wide operation.
ERRORS = ("raise", "skip", "warn")


# ---------------------------------------------------------------- errors policy
@dataclasses.dataclass(frozen=True)
class Skipped:
    """One file (or frame) left out of a result, and why.

    Attributes
    ----------
    name : str
        The file's name in its folder (or ``"frame i"``).
    reason : str
        The exception type and message.
    """

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def check_errors(errors, *, also: Sequence[str] = ()) -> str:
    """Return ``errors`` if it is a known policy, else raise :class:`ValueError` naming the parameter."""
    known = (*ERRORS, *also)
    if not isinstance(errors, str) or errors not in known:
        raise ValueError(f"errors: must be one of {', '.join(repr(k) for k in known)}, not {errors!r}")
    return errors


def name_error(err: BaseException, name: str) -> BaseException:
    """Return ``err`` if its message names ``name``, else an exception of the same type that does.

    The new exception has ``err`` (or the worker traceback ``err`` carries) as its
    ``__cause__``; raise the result without ``from`` (:func:`raise_named`), as
    ``raise err from err`` would make a cycle that hangs traceback printers.
    """
    if name in str(err):
        return err
    try:
        named = type(err)(f"{name}: {err}")
    except Exception:
        named = RuntimeError(f"{name}: {type(err).__name__}: {err}")
    named.__cause__ = err.__cause__ if err.__cause__ is not None else err
    return named


def raise_named(err: BaseException, name: str) -> NoReturn:
    """Raise :func:`name_error` of ``err`` (call it in an ``except`` block)."""
    raise name_error(err, name)


def reason(err: BaseException) -> str:
    """One reason string for a report: the message, with the type unless it is a timeout or crash."""
    from ._workers import TaskTimeoutError, WorkerCrashedError

    if isinstance(err, (TaskTimeoutError, WorkerCrashedError)):
        return str(err)
    return f"{type(err).__name__}: {err}"


#: What :meth:`Policy.call` returns for a skipped item.
SKIP = object()


class Policy:
    """The errors policy of one operation: raise the first error, or skip the item and record why.

    Parameters
    ----------
    errors : {"raise", "skip", "warn"}
        ``"raise"``: the first error propagates, its message naming the item;
        ``"skip"``: the item is left out and recorded in :attr:`skipped` (and
        logged); ``"warn"``: as ``"skip"``, plus one :class:`UserWarning` per
        item.
    what : str
        The operation, for the messages (``"mean"``).
    """

    def __init__(self, errors: str, what: str):
        self.errors = check_errors(errors)
        self.what = what
        self.skipped: list[Skipped] = []

    def call(self, name: str, func: Callable, *args, **kwargs):
        """Return ``func(*args, **kwargs)``, or :data:`SKIP` when it fails and the policy skips."""
        try:
            return func(*args, **kwargs)
        except Exception as err:
            if self.errors == "raise":
                raise_named(err, name)
            self.record(name, err)
            return SKIP

    def record(self, name: str, err: BaseException) -> None:
        """Record a skipped item (and warn, with ``"warn"``)."""
        from .errors import warn_user

        entry = Skipped(name, reason(err))
        self.skipped.append(entry)
        logger.info("%s: skipped %s", self.what, entry)
        if self.errors == "warn":
            warn_user(f"{self.what}: skipped {entry}")

    def report(self) -> tuple[Skipped, ...]:
        """Return the skipped items, in order."""
        return tuple(self.skipped)


# ---------------------------------------------------------------- metadata
def difference(metadata: Mapping, shared: Mapping) -> Metadata:
    """Return the items of ``metadata`` that ``shared`` does not already hold (with that value)."""
    record = Metadata()
    for key, value in metadata.items():
        if key not in shared or not _values_equal(value, shared[key]):
            record[key] = value
    return record


def common_items(records: Sequence[Mapping], *, skip: Iterable[str] = ()) -> Metadata:
    """Return the items every record holds with one value (keys in ``skip`` left out).

    The candidates shrink record by record, so each record is compared only on
    the items still shared.
    """
    if not records:
        return Metadata()
    left_out = set(skip)
    common = {k: v for k, v in records[0].items() if k not in left_out}
    for record in records[1:]:
        for key in [k for k, v in common.items() if k not in record or not _values_equal(v, record[k])]:
            del common[key]
        if not common:
            break
    return Metadata(common)


def split_common(records: Sequence[Mapping]) -> tuple[Metadata, list[Metadata]]:
    """Split records into the items every record holds with one value, and the rest of each."""
    common = common_items(records)
    return common, [difference(r, common) for r in records]


# ---------------------------------------------------------------- statistics
def _frame_mask(mask) -> np.ndarray | None:
    """``None`` for no masked pixel, else the boolean mask."""
    if mask is None or mask is np.ma.nomask:
        return None
    mask = np.asarray(mask, dtype=bool)
    return mask if mask.any() else None


def _check_weight(weight) -> float:
    w = float(weight)
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"weights: must be finite and >= 0, not {weight!r}")
    return w


class RunningMean:
    """Per-pixel (weighted) mean of frames added one at a time, masked pixels ignored.

    Holds a float64 sum and the sum of weights: a scalar while no frame has a
    masked pixel, a per-pixel array after the first one does.

    Examples
    --------
    >>> import numpy as np
    >>> acc = RunningMean()
    >>> acc.add(np.array([[1, 2]]))
    >>> acc.add(np.array([[3, 6]]), mask=np.array([[False, True]]))
    >>> values, masked = acc.result()
    >>> values.tolist(), masked.tolist()
    ([[2.0, 2.0]], [[False, False]])
    """

    def __init__(self):
        self.shape: tuple[int, ...] | None = None
        self.n = 0
        self.dtype: np.dtype | None = None
        self.total: np.ndarray | None = None
        self._weight = 0.0  # the weight of every pixel of the frames without a mask
        self._weights: np.ndarray | None = None  # the per-pixel weight of the masked frames
        self._scratch: np.ndarray | None = None

    def _start(self, data: np.ndarray) -> None:
        """Check a frame before anything is changed; make the sums at the first one."""
        if data.dtype.kind not in "biuf":
            raise TypeError(f"cannot average pixels of dtype {data.dtype}")
        if self.shape is None:
            self.shape = data.shape
            self.total = np.zeros(data.shape, np.float64)
        elif data.shape != self.shape:
            raise ValueError(f"its shape {data.shape} differs from the first frame's {self.shape}")
        self.dtype = data.dtype if self.dtype is None else np.result_type(self.dtype, data.dtype)

    def _weighted(self, data: np.ndarray, weight: float) -> np.ndarray:
        if weight == 1.0 and data.dtype == np.float64:
            return data
        if self._scratch is None:
            self._scratch = np.empty(self.shape, np.float64)
        return np.multiply(data, weight, out=self._scratch, casting="unsafe")

    def add(self, data, mask=None, weight: float = 1.0) -> None:
        """Add one frame (its pixels, its mask or None, its weight)."""
        data = np.asarray(data)
        weight = _check_weight(weight)
        self._start(data)
        mask = _frame_mask(mask)
        if mask is None:
            if weight == 1.0:
                np.add(self.total, data, out=self.total, casting="unsafe")
            elif weight:
                np.add(self.total, self._weighted(data, weight), out=self.total)
            self._weight += weight
        else:
            keep = ~mask
            np.add(self.total, self._weighted(data, weight), out=self.total, where=keep)
            if self._weights is None:
                self._weights = np.zeros(self.shape, np.float64)
            np.add(self._weights, weight, out=self._weights, where=keep)
        self.n += 1

    @property
    def weight(self) -> np.ndarray:
        """The sum of the weights of each pixel's unmasked values."""
        if self.shape is None:
            raise ValueError("no frame to average")
        base = np.full(self.shape, self._weight)
        return base if self._weights is None else base + self._weights

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mean, masked)``: masked where no frame gives the pixel a weight."""
        if self.shape is None:
            raise ValueError("no frame to average")
        if self._weights is None and self._weight > 0:  # no mask anywhere: one division
            return self.total / self._weight, np.zeros(self.shape, bool)
        weight = self.weight
        masked = weight <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.divide(self.total, weight, out=np.zeros(self.shape), where=~masked)
        return values, masked


class RunningVariance(RunningMean):
    """Per-pixel weighted mean and sum of squared deviations (West's algorithm), masks respected.

    Examples
    --------
    >>> import numpy as np
    >>> acc = RunningVariance()
    >>> for value in (1.0, 2.0, 6.0):
    ...     acc.add(np.full((1, 2), value))
    >>> acc.std(ddof=1)[0].round(6).tolist()
    [[2.645751, 2.645751]]
    """

    def __init__(self):
        super().__init__()
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self._count = 0  # as _weight: frames without a mask ...
        self._counts: np.ndarray | None = None  # ... and the per-pixel count of those with one
        self._delta: np.ndarray | None = None
        self._step: np.ndarray | None = None

    def add(self, data, mask=None, weight: float = 1.0) -> None:
        """Add one frame (its pixels, its mask or None, its weight)."""
        data = np.asarray(data)
        weight = _check_weight(weight)
        self._start(data)
        mask = _frame_mask(mask)
        if self.mean is None:
            self.mean = np.zeros(self.shape)
            self.m2 = np.zeros(self.shape)
            self._delta = np.empty(self.shape)
            self._step = np.empty(self.shape)
        delta = np.subtract(data, self.mean, out=self._delta, casting="unsafe")
        step = self._step
        if mask is None and self._weights is None:
            self._weight += weight
            self._count += 1
            if not weight:
                self.n += 1
                return
            np.multiply(delta, weight / self._weight, out=step)
            w: float | np.ndarray = weight
        else:
            if self._weights is None:
                self._weights = np.full(self.shape, self._weight)
                self._counts = np.full(self.shape, self._count, np.int64)
                self._weight, self._count = 0.0, 0
            keep = np.ones(self.shape, bool) if mask is None else ~mask
            w = keep * weight
            self._weights += w
            self._counts += keep
            np.multiply(delta, w, out=step)
            np.divide(step, self._weights, out=step, where=self._weights > 0)
        self.mean += step
        # West (1979): M2 += w * delta * (x - new mean)
        np.subtract(delta, step, out=step)
        step *= delta
        if not (isinstance(w, float) and w == 1.0):
            step *= w
        self.m2 += step
        self.n += 1

    @property
    def weight(self) -> np.ndarray:
        """The sum of the weights of each pixel's unmasked values."""
        if self.shape is None:
            raise ValueError("no frame to average")
        return np.full(self.shape, self._weight) if self._weights is None else self._weights

    @property
    def count(self) -> np.ndarray:
        """How many frames give each pixel a value."""
        return np.full(self.shape, self._count, np.int64) if self._counts is None else self._counts

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mean, masked)``."""
        return self.mean, self.weight <= 0

    def std(self, ddof: int = 1, *, error: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(standard deviation, masked)``, or the standard error of the mean with ``error=True``.

        Masked where fewer than ``ddof + 1`` frames give the pixel a value.
        """
        if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral) or ddof < 0:
            raise ValueError(f"ddof: must be an int >= 0, not {ddof!r}")
        if self._counts is None and self._count - ddof > 0 and self._weight > 0:
            # no mask anywhere and enough frames: one count for every pixel, nothing masked
            var = np.divide(self.m2, self._count - ddof)
            if error:
                var /= self._count
            np.maximum(var, 0.0, out=var)
            return np.sqrt(var, out=var), np.zeros(self.shape, bool)
        count = self.count
        dof = count - ddof
        masked = (dof <= 0) | (self.weight <= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.divide(self.m2, np.maximum(dof, 1), out=np.zeros(self.shape), where=~masked)
            if error:
                var /= np.maximum(count, 1)
            values = np.sqrt(np.maximum(var, 0.0))
        return values, masked


def statistic_image(values, masked, *, metadata: Mapping, history: str, cls=None):
    """Wrap a statistic of frames as a float64 :class:`~stonerimg.ImageFile` (of ``cls``).

    Every statistic of a stack or a folder is float64, whatever the frames'
    dtype (the sums are float64 too).  Masked pixels hold 0; ``history`` is
    appended to the metadata's history.  ``values`` must be a new array (the
    accumulators' results are): without masked pixels, float64 values become the
    image's pixels without a copy.
    """
    from .array import ImageArray
    from .imagefile import ImageFile

    masked = np.asarray(masked, dtype=bool)
    any_masked = bool(masked.any())
    if any_masked:
        data = np.where(masked, 0.0, values).astype(np.float64, copy=False)
    else:  # nothing to blank: the values themselves (a copy only if they are not float64 already)
        data = np.asarray(values).astype(np.float64, copy=False)
    md = Metadata(metadata)
    md["history"] = [*md.get("history", []), history]
    image = ImageArray(data, metadata=md)
    if any_masked:
        image._set_mask_fast(masked.copy())
    return (cls or ImageFile)(image)


# ---------------------------------------------------------------- montage
def _check_positive(value, name: str, *, minimum: int = 1, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: must be an int >= {minimum}{' or None' if allow_none else ''}, not {value!r}")
    return int(value)


def _percentile_scale(tile: np.ma.MaskedArray) -> np.ma.MaskedArray:
    """Scale to 0..1 between the 0.5 and 99.5 percentiles of the finite unmasked values."""
    tile = tile.astype(np.float64)
    values = tile.compressed()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return tile
    low, high = np.percentile(values, [0.5, 99.5])
    return np.ma.clip((tile - low) / ((high - low) or 1.0), 0.0, 1.0)


def montage_tile(image, *, size: int | None, normalise: bool) -> np.ma.MaskedArray:
    """One tile of a montage: the 2-D image shrunk (every n-th pixel) to at most ``size`` px, optionally scaled."""
    tile = np.ma.asarray(image)
    if tile.ndim != 2:
        raise ValueError(f"montage needs 2-D images, not shape {tile.shape}")
    step = 1 if size is None else max(1, -(-max(tile.shape) // size))
    tile = tile[::step, ::step]
    return _percentile_scale(tile) if normalise else tile


def check_montage(columns, size, gap, normalise) -> tuple:
    """Check the montage options up front (before any file is loaded); return them normalised."""
    columns = _check_positive(columns, "columns", allow_none=True)
    size = _check_positive(size, "size", allow_none=True)
    gap = _check_positive(gap, "gap", minimum=0)
    if not isinstance(normalise, (bool, np.bool_)):
        raise TypeError(f"normalise: must be True or False, not {normalise!r}")
    return columns, size, gap, bool(normalise)


def montage(
    tiles: Sequence[tuple[str, np.ma.MaskedArray]],
    *,
    columns: int | None,
    gap: int,
    fill,
    metadata: Mapping | None = None,
    history: str = "montage",
):
    """Lay out prepared tiles (:func:`montage_tile`) row by row; return an :class:`~stonerimg.ImageFile`.

    Cells are as large as the largest tile; gaps, the padding around smaller
    tiles and the empty cells after the last one hold ``fill`` and are masked.
    The result keeps the tiles' common dtype (float64 if they were
    normalised).  Its metadata: ``metadata`` and ``montage.names``,
    ``montage.grid`` ``(rows, columns)``, ``montage.rows``,
    ``montage.columns``, ``montage.origins`` (the ``(x, y)`` of each tile's
    top-left pixel) and one ``history`` entry.
    """
    from .array import ImageArray
    from .imagefile import ImageFile

    if not tiles:
        raise ValueError("montage: no images to tile")
    n = len(tiles)
    columns = min(n, columns or math.ceil(math.sqrt(n)))
    rows = -(-n // columns)
    height = max(t.shape[0] for _, t in tiles)
    width = max(t.shape[1] for _, t in tiles)
    dtype = np.result_type(*(t.dtype for _, t in tiles))
    try:
        filler = np.array(fill).astype(dtype)
        ok = np.ndim(fill) == 0 and (filler == fill or (np.isnan(fill) and np.isnan(filler)))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"fill: {fill!r} cannot be stored in the tiles' dtype {dtype}")
    shape = (rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap)
    data = np.full(shape, filler, dtype=dtype)
    mask = np.ones(shape, dtype=bool)
    origins = []
    for index, (_name, tile) in enumerate(tiles):
        row, col = divmod(index, columns)
        y, x = row * (height + gap), col * (width + gap)
        h, w = tile.shape
        data[y : y + h, x : x + w] = np.ma.getdata(tile)
        mask[y : y + h, x : x + w] = np.ma.getmaskarray(tile)
        origins.append((x, y))
    md = Metadata(metadata or {})
    md.update(
        {
            "montage.names": [name for name, _ in tiles],
            "montage.grid": (rows, columns),
            "montage.rows": rows,
            "montage.columns": columns,
            "montage.origins": origins,
        }
    )
    md["history"] = [*md.get("history", []), history]
    image = ImageArray(data, metadata=md)
    if mask.any():
        image._set_mask_fast(mask)
    return ImageFile(image)


# ---------------------------------------------------------------- registration
def reference_image(reference):
    """Return the reference of a registration as an independent 2-D :class:`~stonerimg.ImageArray`."""
    from .array import ImageArray
    from .imagefile import ImageFile

    if isinstance(reference, ImageFile):
        reference = reference.image
    ref = ImageArray(np.ma.array(reference, copy=True))
    if ref.ndim != 2:
        raise ValueError(f"ref: the reference must be a 2-D image, not of shape {ref.shape}")
    ref.metadata = {}
    return ref


def registration_options(method=None, box=None, upsample_factor=None) -> dict:
    """Return the options of an ``align`` call that were given (None: the registration function's default)."""
    given = {"method": method, "box": box, "upsample_factor": upsample_factor}
    return {k: v for k, v in given.items() if v is not None}


def register_frames(
    frames: Iterable[tuple[str, Callable[[], Any]]],
    reference,
    *,
    function: str = "align",
    policy: Policy,
    **kwargs,
) -> list[tuple[int, Any]]:
    """Register every frame onto one reference with a registration image function.

    Parameters
    ----------
    frames : iterable of (name, get)
        ``get()`` returns the frame as an :class:`~stonerimg.ImageArray` (a
        folder loads its file there, so a bad file is one skipped frame).
    reference : ImageArray
        From :func:`reference_image`.
    function : {"align", "correct_drift"}
        :func:`~stonerimg.funcs.registration.align` (records ``align.shift``)
        or :func:`~stonerimg.funcs.registration.correct_drift` (records
        ``correct_drift``/``drift_shift``).
    policy : Policy
        What a frame that cannot be loaded or registered does.
    **kwargs
        Passed to the function.

    Returns
    -------
    list of (int, ImageArray)
        The position and result of each registered frame; nothing is written.
    """
    from .funcs import registration

    if function not in ("align", "correct_drift"):
        raise ValueError(f"function: must be 'align' or 'correct_drift', not {function!r}")
    register = getattr(registration, function)
    results = []
    for index, (name, get) in enumerate(frames):
        result = policy.call(name, lambda get=get: register(get(), reference, **kwargs))
        if result is not SKIP:
            results.append((index, result))
    return results
