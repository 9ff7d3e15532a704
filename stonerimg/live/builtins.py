"""The built-in live processors: fast versions of the usual measurements, chosen by name.

Every function here takes a frame (an :class:`~stonerimg.ImageArray`, usually the
read-only ROI view a session hands out) and returns a plain NumPy result.  They are
written for frame rates, not for generality:

- integer frames are read as they are (reductions accumulate in float64) or turned
  into float32 once; transforms run in float32 on one core (``scipy.fft.rfft2`` with
  ``workers=1``: a session runs several processors side by side, so each gets a core's
  share, not all of them);
- the FFT of a frame is computed once and shared: ``fft`` and ``fft_radial_profile``
  on the same frame and ROI read one cached half-plane spectrum (a small
  least-recently-used cache keyed by the frame number and the memory the ROI view
  covers; only read-only frames are cached, so a frame cannot change under its key);
- the radial bin of every pixel is computed once per shape and kept, by the same
  cached rings :func:`stonerimg.funcs.fourier.radial_profile` uses
  (``fourier.ring_bins``, ``fourier._spectrum_rings`` for the half-plane spectrum),
  so a radial profile is two ``np.bincount`` calls.

:data:`BUILTINS` lists them; :func:`builtin` makes a :class:`~stonerimg.live.Processor`
from a name and literal options, and :func:`parse_processor` from the command-line
text ``"gaussian(sigma=3)"`` (parsed, never evaluated).
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ..array import ImageArray
from ..funcs.fourier import _spectrum_rings, ring_bins
from .processor import Processor

__all__ = [
    "BUILTINS",
    "builtin",
    "centroid",
    "fft_image",
    "fft_radial_profile",
    "gaussian",
    "line_profile",
    "parse_processor",
    "radial_profile",
    "statistic",
]


# ------------------------------------------------------------------------------ helpers
def _pixels(frame) -> np.ndarray:
    """Return the frame's pixels as an ndarray (no copy)."""
    return np.asarray(frame.data if isinstance(frame, np.ma.MaskedArray) else frame)


def _mask(frame) -> np.ndarray | None:
    """Return the frame's mask as a boolean array, or None when nothing is masked."""
    mask = getattr(frame, "_mask", np.ma.nomask)
    if mask is np.ma.nomask:
        return None
    mask = np.asarray(mask, dtype=bool)
    return mask if mask.any() else None


def _roi_origin(frame) -> tuple[int, int]:
    """``(x, y)`` of the ROI view's first pixel in the frame (0, 0 without an ROI)."""
    md = getattr(frame, "_metadata", None) or {}
    roi = md.get("roi") if hasattr(md, "get") else None
    return (int(roi[0]), int(roi[1])) if roi is not None else (0, 0)


def _as_float32(data: np.ndarray) -> np.ndarray:
    return data if data.dtype == np.float32 else data.astype(np.float32)


class _Entry:
    __slots__ = ("done", "error", "keep", "value")

    def __init__(self, keep):
        self.done = threading.Event()
        self.keep = keep  # holds the frame's memory, so its address cannot be reused while cached
        self.value = None
        self.error = None


class _SharedCache:
    """A small LRU cache whose concurrent misses on one key compute the value once."""

    def __init__(self, size: int = 4):
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict = OrderedDict()
        self.computed = 0  # how many values were computed (for tests and benchmarks)

    def get(self, key, keep, compute):
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                entry = self._entries[key] = _Entry(keep)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                entry.value = compute()
                self.computed += 1
            except BaseException as err:
                entry.error = err
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                raise
            finally:
                entry.done.set()
            return entry.value
        entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.value


#: The shared spectra (one per frame and ROI; a few frames back for slower processors).
SPECTRA = _SharedCache(size=4)


def _cache_key(frame, data: np.ndarray, mask: np.ndarray | None):
    """Return a key naming the frame's pixels, or None when they may still change (a writeable array)."""
    if data.flags.writeable or (mask is not None and mask.flags.writeable):
        return None
    md = getattr(frame, "_metadata", None)
    number = md.get("frame") if md is not None else None
    where = data.__array_interface__["data"][0]
    mask_key = None if mask is None else mask.__array_interface__["data"][0]  # the entry keeps the mask alive too
    return (number, where, data.shape, data.strides, data.dtype.str, mask_key)


# ------------------------------------------------------------------------------ scalars
_STATISTICS = {"mean": np.mean, "max": np.max, "min": np.min, "std": np.std, "sum": np.sum}


def statistic(frame, op: str = "mean") -> float:
    """One statistic of the unmasked pixels: ``"mean"``, ``"max"``, ``"min"``, ``"std"`` or ``"sum"``.

    Examples
    --------
    >>> statistic(ImageArray([[1, 2], [3, 6]]), "mean"), statistic(ImageArray([[1, 2], [3, 6]]), "max")
    (3.0, 6.0)
    """
    try:
        func = _STATISTICS[op]
    except KeyError:
        raise ValueError(f"op: must be one of {', '.join(_STATISTICS)}, not {op!r}") from None
    data = _pixels(frame)
    mask = _mask(frame)
    if mask is not None:
        data = data[~mask]
    if data.size == 0:
        return float("nan")
    if op in ("mean", "std", "sum"):
        return float(func(data, dtype=np.float64))
    return float(func(data))


def centroid(frame, threshold: float = 0.5) -> tuple[float, float]:
    """Intensity-weighted centre ``(x, y)`` of the bright part of the frame, in frame pixels.

    Parameters
    ----------
    frame : ImageArray
        The frame or its ROI view (the ROI's offset is added back from ``"roi"``).
    threshold : float, default 0.5
        Only intensity above ``min + threshold * (max - min)`` counts, and only by how
        much it exceeds that level (0: the centre of mass of ``intensity - min``).

    Returns
    -------
    (float, float)
        ``(x, y)``; NaN for a frame with no pixel above the level.

    Examples
    --------
    >>> import numpy as np
    >>> im = np.zeros((5, 7)); im[1, 5] = 4.0; im[2, 5] = 4.0
    >>> centroid(ImageArray(im))
    (5.0, 1.5)
    """
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold: must be in [0, 1), not {threshold!r}")
    data = _pixels(frame)
    mask = _mask(frame)
    values = data[~mask] if mask is not None else data
    if values.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = float(values.min()), float(values.max())
    weights = _as_float32(data) - np.float32(lo + threshold * (hi - lo))
    np.maximum(weights, 0, out=weights)
    if mask is not None:
        weights[mask] = 0
    total = weights.sum(dtype=np.float64)
    if not total > 0:
        return (float("nan"), float("nan"))
    ox, oy = _roi_origin(frame)
    x = weights.sum(axis=0, dtype=np.float64) @ np.arange(data.shape[1], dtype=np.float64) / total
    y = weights.sum(axis=1, dtype=np.float64) @ np.arange(data.shape[0], dtype=np.float64) / total
    return (float(x + ox), float(y + oy))


# ----------------------------------------------------------------------------- profiles
def line_profile(frame, direction: str = "x", width: int = 1) -> np.ndarray:
    """Average ``width`` rows (``direction="x"``) or columns (``"y"``) through the middle of the frame.

    Masked pixels are left out of the mean (NaN where a whole column is masked).

    Examples
    --------
    >>> import numpy as np
    >>> line_profile(ImageArray(np.arange(20.0).reshape(4, 5)), width=2).tolist()
    [7.5, 8.5, 9.5, 10.5, 11.5]
    """
    if direction not in ("x", "y"):
        raise ValueError(f"direction: must be 'x' (along a row) or 'y' (along a column), not {direction!r}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width: must be a positive int, not {width!r}")
    data = _pixels(frame)
    mask = _mask(frame)
    if direction == "y":
        data = data.T
        mask = None if mask is None else mask.T
    rows = data.shape[0]
    width = min(int(width), rows)
    start = (rows - width) // 2
    band = data[start : start + width]
    if mask is None:
        return band.mean(axis=0, dtype=np.float64)
    band = np.ma.MaskedArray(band, mask[start : start + width])
    return band.mean(axis=0, dtype=np.float64).filled(np.nan)


def _spectrum(frame) -> np.ndarray:
    """``|rfft2(frame)|`` (float32, half plane, unshifted), shared between processors through :data:`SPECTRA`.

    Masked pixels are replaced by the mean of the others first (as
    :func:`stonerimg.funcs.fourier.fft` does).
    """
    data = _pixels(frame)
    mask = _mask(frame)

    def compute():
        import scipy.fft

        work = data.astype(np.float32)  # a copy we may overwrite
        if mask is not None:
            work[mask] = work[~mask].mean(dtype=np.float64)
        transform = scipy.fft.rfft2(work, workers=1, overwrite_x=True)
        return np.abs(transform)

    key = _cache_key(frame, data, mask)
    if key is None:
        return compute()
    return SPECTRA.get(key, (data, mask), compute)


def _frequency_steps(frame) -> tuple[float, float]:
    """Frequency steps ``(fx, fy)`` of the frame's FFT: ``1 / (n * pixel size)`` (1/px uncalibrated)."""
    rows, cols = _pixels(frame).shape
    sx, sy = frame.pixel_size if isinstance(frame, ImageArray) else (1.0, 1.0)
    return 1.0 / (cols * sx), 1.0 / (rows * sy)


def fft_radial_profile(frame) -> np.ndarray:
    """Mean ``|FFT|`` of the frame in rings about zero frequency (the radial profile of its diffractogram).

    The same numbers as ``frame.fft().radial_profile(centre="origin").mean`` (up to float32
    rounding), in bins one frequency step wide; computed from the cached half-plane
    spectrum with precomputed bins.

    Examples
    --------
    >>> import numpy as np
    >>> frame = ImageArray(np.random.default_rng(0).random((32, 40)))
    >>> reference = frame.fft().radial_profile(centre="origin").mean
    >>> bool(np.allclose(fft_radial_profile(frame), reference, rtol=1e-4))
    True
    """
    magnitude = _spectrum(frame)
    rows, cols = _pixels(frame).shape
    rings = _spectrum_rings(rows, cols, *_frequency_steps(frame))
    total = 2 * np.bincount(rings.index, weights=magnitude.ravel(), minlength=rings.nbins)
    index2d = rings.index.reshape(magnitude.shape)
    total -= np.bincount(
        index2d[:, rings.selfsym].ravel(), weights=magnitude[:, rings.selfsym].ravel(), minlength=rings.nbins
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return total[: rings.nbins] / rings.count


def fft_image(frame) -> np.ndarray:
    """``log(1 + |FFT|)`` of the frame, shifted to put zero frequency in the middle (a diffractogram).

    Float32, the frame's shape; built from the cached half-plane spectrum by symmetry.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.random.default_rng(0).random((6, 7))
    >>> expected = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(frame))))
    >>> bool(np.allclose(fft_image(ImageArray(frame)), expected, rtol=1e-5))
    True
    """
    half = np.log1p(_spectrum(frame))
    rows, cols = _pixels(frame).shape
    out = np.empty((rows, cols), dtype=np.float32)
    shift = rows // 2
    # right half (kx >= 0): rows in shifted order
    right = cols - cols // 2  # columns kx = 0 .. (cols - 1) // 2
    out[:shift, cols // 2 :] = half[rows - shift :, :right]
    out[shift:, cols // 2 :] = half[: rows - shift, :right]
    # left half (kx < 0): |F(ky, -kx)| = |F(-ky, kx)|
    flip_rows = (shift - np.arange(rows)) % rows
    out[:, : cols // 2] = half[flip_rows][:, cols // 2 : 0 : -1]
    return out


def radial_profile(frame) -> np.ndarray:
    """Mean intensity in 1-pixel rings about the middle of the frame (or ROI); masked pixels left out.

    The same numbers as ``frame.radial_profile().mean`` for an uncalibrated frame (same bins, up to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[:9, :9]
    >>> frame = ImageArray(np.hypot(x - 4, y - 4))
    >>> radial_profile(frame).round(2).tolist()[:3]
    [0.0, 1.21, 2.33]
    >>> bool(np.allclose(radial_profile(frame), frame.radial_profile().mean, rtol=1e-12))
    True
    """
    data = _pixels(frame)
    rows, cols = data.shape
    index, count, _, nbins = ring_bins(rows, cols, (cols - 1) / 2, (rows - 1) / 2, 1.0, 1.0)
    values = data.ravel()
    mask = _mask(frame)
    if mask is not None:
        keep = ~mask.ravel()
        index, values = index[keep], values[keep]
        count = np.bincount(index, minlength=nbins)
    total = np.bincount(index, weights=values, minlength=nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total[:nbins] / count[:nbins]


# --------------------------------------------------------------------------------- images
def gaussian(frame, sigma: float = 2.0) -> np.ndarray:
    """Smooth the frame with a Gaussian of ``sigma`` pixels (``scipy.ndimage.gaussian_filter``, float32).

    The mask is not used: masked pixels are smoothed like the others.
    """
    from scipy import ndimage

    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma: must be a positive number of pixels, not {sigma!r}")
    data = _as_float32(_pixels(frame))
    sigma = float(sigma)
    radius = int(4.0 * sigma + 0.5)  # gaussian_filter's default truncate=4
    bands = min(_CORES, data.shape[0] // max(64, 4 * radius)) if data.ndim == 2 else 1
    if bands < 2:
        return ndimage.gaussian_filter(data, sigma, output=np.float32)
    # bands of rows filtered side by side (SciPy releases the GIL): the same pixels in a fraction of the time,
    # which keeps the filter's latency below a 50 fps frame period; each band reads `radius` rows beyond its edges
    out = np.empty(data.shape, np.float32)
    edges = np.linspace(0, data.shape[0], bands + 1).astype(int)

    def band(i: int) -> None:
        lo, hi = edges[i], edges[i + 1]
        start, stop = max(0, lo - radius), min(data.shape[0], hi + radius)
        out[lo:hi] = ndimage.gaussian_filter(data[start:stop], sigma, output=np.float32)[lo - start : hi - start]

    list(_band_pool().map(band, range(bands)))
    return out


_CORES = os.cpu_count() or 1


@functools.cache
def _band_pool():
    """Threads that filter bands of one frame side by side (one per core)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(_CORES, thread_name_prefix="stonerimg-live-band")


class Difference:
    """The frame minus the previous frame this processor saw (float32; zeros for the first or after a resize).

    With a slow display or dropped frames, "previous" is the last frame processed, not
    necessarily the one acquired just before.
    """

    def __init__(self):
        self._previous = None

    def __call__(self, frame) -> np.ndarray:
        current = _as_float32(_pixels(frame))
        previous = self._previous
        self._previous = current
        if previous is None or previous.shape != current.shape:
            return np.zeros_like(current)
        return current - previous


# ---------------------------------------------------------------------------------- table
class BuiltinSpec(NamedTuple):
    """What :func:`builtin` needs to make one built-in processor."""

    kind: str
    make: object  # (options) -> callable
    options: tuple  # names of the options it takes
    columns: tuple | None
    description: str
    imports: tuple = ()  # modules its function imports lazily


def _stat(op):
    return BuiltinSpec("scalar", lambda: functools.partial(statistic, op=op), (), None, f"{op} of the ROI's pixels")


BUILTINS: dict[str, BuiltinSpec] = {
    **{op: _stat(op) for op in _STATISTICS},
    "centroid": BuiltinSpec(
        "scalar",
        lambda threshold=0.5: functools.partial(centroid, threshold=threshold),
        ("threshold",),
        ("x", "y"),
        "(x, y) of the bright part (above min + threshold * (max - min)), in frame pixels",
    ),
    "line_profile": BuiltinSpec(
        "profile",
        lambda direction="x", width=1: functools.partial(line_profile, direction=direction, width=width),
        ("direction", "width"),
        None,
        "mean of `width` rows (direction x) or columns (y) through the ROI's middle",
    ),
    "radial_profile": BuiltinSpec(
        "profile", lambda: radial_profile, (), None, "mean intensity in 1-px rings about the ROI's middle"
    ),
    "fft": BuiltinSpec(
        "image", lambda: fft_image, (), None, "log(1 + |FFT|), zero frequency in the middle", ("scipy.fft",)
    ),
    "fft_radial_profile": BuiltinSpec(
        "profile", lambda: fft_radial_profile, (), None, "mean |FFT| in rings about zero frequency", ("scipy.fft",)
    ),
    "gaussian": BuiltinSpec(
        "image",
        lambda sigma=2.0: functools.partial(gaussian, sigma=sigma),
        ("sigma",),
        None,
        "Gaussian-smoothed image (sigma in px)",
        ("scipy.ndimage",),
    ),
    "difference": BuiltinSpec("image", lambda: Difference(), (), None, "frame minus the previous frame processed"),
}
"""The built-in processors by name: ``kind``, the options each takes and what it measures."""


def builtin(name: str, *, label: str | None = None, roi=None, capacity: int | None = None, **options) -> Processor:
    """Make a built-in processor.

    Parameters
    ----------
    name : str
        A key of :data:`BUILTINS` (``"mean"``, ``"centroid"``, ``"fft_radial_profile"``, ...).
    label : str, optional
        The processor's name in the session (default ``name``).
    roi, capacity
        As for :class:`~stonerimg.live.Processor`.
    **options
        The processor's options (e.g. ``sigma=3`` for ``"gaussian"``).

    Raises
    ------
    ValueError
        If the name is unknown or an option is not one the processor takes.

    Examples
    --------
    >>> p = builtin("gaussian", sigma=3)
    >>> p.name, p.kind
    ('gaussian', 'image')
    """
    try:
        entry = BUILTINS[name]
    except (KeyError, TypeError):
        raise ValueError(f"name: {name!r} is not a built-in processor; choose from {', '.join(BUILTINS)}") from None
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join(entry.options) or "no options"
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; it takes {takes}")
    for module in entry.imports:  # import now, in this thread, not on the first frame
        importlib.import_module(module)
    func = entry.make(**options)
    return Processor(func, entry.kind, name=label or name, roi=roi, columns=entry.columns, capacity=capacity)


def parse_processor(text: str) -> Processor:
    """Make a built-in processor from text such as ``"mean"`` or ``"gaussian(sigma=3)"``.

    The text is parsed, never evaluated: only names in :data:`BUILTINS` and literal
    keyword options are accepted.  The processor is named ``name`` without options and
    ``name(option=value, ...)`` with them, so two Gaussians of different widths can
    run side by side.

    Raises
    ------
    ValueError
        If the text is not ``name`` or ``name(option=literal, ...)`` with a built-in name.

    Examples
    --------
    >>> p = parse_processor("line_profile(width=5)")
    >>> p.name, p.kind
    ('line_profile(width=5)', 'profile')
    """
    from ..metadata import parse_call

    try:
        name, args, options = parse_call(text)
    except ValueError as err:
        raise ValueError(f"--process {text!r}: {err}") from None
    if args:
        raise ValueError(f"--process {text!r}: options are given as name=value, e.g. gaussian(sigma=3)")
    label = name if not options else f"{name}({', '.join(f'{k}={v!r}' for k, v in options.items())})"
    try:
        return builtin(name, label=label, **options)
    except (ValueError, TypeError) as err:
        raise ValueError(f"--process {text!r}: {err}") from None
