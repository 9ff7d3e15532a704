"""Electron-microscopy formats read through RosettaSciIO (the ``em`` extra).

One loader per entry of :data:`stonerimg.formats.RSCIIO_FORMATS`
(``load_digitalmicrograph``, ``load_emd``, ...), made from that table.  Each
imports RosettaSciIO's reader for its format only when it is called, reads the
file read-only and in full (``lazy=False``), and turns one of the signals
RosettaSciIO returns into an :class:`~stonerimg.ImageFile`:

- the pixels in NumPy order, every dimension kept (a spectrum image stays 3-D);
- ``original.<dotted.path>``: every item of the file's own metadata tree
  (RosettaSciIO's ``original_metadata``), e.g. ``original.ImageList.TagGroup0...``;
- ``rsciio.<dotted.path>``: RosettaSciIO's normalised metadata, with the
  reader's mapping of file items to normalised ones applied as HyperSpy does
  (``rsciio.Signal.signal_type``, ``rsciio.Acquisition_instrument.TEM.beam_energy``);
- ``axes.<i>.name/size/scale/offset/units/navigate``: what each array axis is;
- ``calibration.x.*`` and ``calibration.y.*`` from the last two array axes
  (``y`` = rows, ``x`` = columns).

Values are converted to what the metadata codec stores: decodable bytes become
text, structured NumPy values dicts, anything else without an encoding its
``str``.  A file RosettaSciIO cannot read is declined with
:class:`~stonerimg.errors.FormatMismatch`, so the registry tries the next format.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import inspect
import logging
import math
import mmap
import numbers
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata, flat_items
from . import RSCIIO_FORMATS

__all__ = ["INSTALL_HINT", "MissingDependencyError", *(f"load_{name}" for name in RSCIIO_FORMATS)]

logger = logging.getLogger(__name__)

#: What to install for these formats.
INSTALL_HINT = "pip install stonerimg[em]"

_UNDEFINED_UNITS = {"", "<undefined>", "undefined", "none"}
# Keyword arguments of the readers that we do not pass on: we always read in full, never write.
_RESERVED = {"lazy": "stonerimg reads these files in full; use lazy=False (the default)", "dump_xml": "it writes files"}


class MissingDependencyError(ImportError):
    """RosettaSciIO, which reads these formats, is not installed."""


# ---------------------------------------------------------------- the reader


def _file_reader(plugin: str) -> tuple[Callable, str]:
    """Return RosettaSciIO's ``file_reader`` for ``plugin`` and RosettaSciIO's version.

    The module comes from RosettaSciIO's own plugin table (its ``api`` entry),
    looked up by a plugin name from :data:`RSCIIO_FORMATS`, never from a file.
    """
    try:
        import rsciio
    except ImportError as err:
        raise MissingDependencyError(
            f"reading {plugin} files needs RosettaSciIO, which is not installed: {INSTALL_HINT}"
        ) from err
    entry = next((p for p in rsciio.IO_PLUGINS if p.get("name") == plugin), None)
    api = entry.get("api", "") if entry else ""
    if not api.startswith("rsciio."):
        raise MissingDependencyError(
            f"the installed RosettaSciIO {getattr(rsciio, '__version__', '?')} has no {plugin} reader; "
            f"upgrade it: {INSTALL_HINT}"
        )
    module = importlib.import_module(api)
    return module.file_reader, str(getattr(rsciio, "__version__", ""))


def _reader_options(name: str, reader: Callable, kwargs: dict) -> dict:
    """Check the options passed through to the reader; ``TypeError`` names a bad one."""
    for key, why in _RESERVED.items():
        if kwargs.get(key):
            raise TypeError(f"{key}: not supported when loading {name} files ({why})")
        kwargs.pop(key, None)
    parameters = inspect.signature(reader).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(kwargs) - set(parameters))
        if unknown:
            known = ", ".join(p for p in parameters if p not in ("filename", "lazy", *_RESERVED))
            raise TypeError(f"{name} loader got unexpected option(s) {unknown}; RosettaSciIO's reader takes: {known}")
    return kwargs


def _read(path, name: str, plugin: str, kwargs: dict) -> tuple[list, str]:
    reader, version = _file_reader(plugin)
    options = _reader_options(name, reader, dict(kwargs))
    from ._hdf5 import _is_hdf5, check_hdf5

    if _is_hdf5(path):  # .emd and any other HDF5 file: the same guards as stonerimg's own HDF5 readers
        check_hdf5(path)
    try:
        signals = reader(str(path), lazy=False, **options)
    except (MemoryError, PermissionError, FileNotFoundError):
        raise  # not a question of format: the registry reports these as they are
    except Exception as err:  # RosettaSciIO raises whatever its parser hits on a foreign or corrupt file
        logger.debug("RosettaSciIO %s reader failed on %s", plugin, path, exc_info=True)
        raise FormatMismatch(f"RosettaSciIO's {plugin} reader cannot read it: {type(err).__name__}: {err}") from err
    if isinstance(signals, Mapping):
        signals = [signals]
    if not isinstance(signals, list) or not all(isinstance(s, Mapping) and "data" in s for s in signals):
        raise FormatMismatch(f"RosettaSciIO's {plugin} reader returned no signals")
    return signals, version


def _choose(signals: list, index, plugin: str) -> int:
    """Index of the signal to load: ``index`` if given, else the first with at least 2 dimensions."""
    if index is not None:
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"index: must be an integer, not {type(index).__name__}") from None
        if not -len(signals) <= index < len(signals):
            raise ValueError(f"index: the file holds {len(signals)} signal(s), there is no index {index}")
        return index % len(signals)
    for i, signal in enumerate(signals):
        if np.ndim(signal["data"]) >= 2:
            return i
    shapes = ", ".join(str(np.shape(s["data"])) for s in signals) or "none"
    raise FormatMismatch(
        f"the {plugin} file holds no image, only signals of shapes {shapes}; pass index= to load one as a 1 x n image"
    )


def _in_memory(data) -> np.ndarray:
    """Return the data as a NumPy array holding its own memory (no dask graph, no map of the file)."""
    if not isinstance(data, np.ndarray) and hasattr(data, "compute"):
        data = data.compute()
    array = np.asarray(data)
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return np.array(array, copy=True)
        base = getattr(base, "base", None)
    return array


def _pixels(data, plugin: str) -> np.ndarray:
    data = _in_memory(data)
    if data.dtype.names:  # colour (RGBA) images come as records: make the channels a last axis
        from numpy.lib.recfunctions import structured_to_unstructured

        data = structured_to_unstructured(data)
    if data.dtype.kind not in "biufc":
        raise FormatMismatch(f"the {plugin} data have dtype {data.dtype}, which is not numeric")
    return data


# ---------------------------------------------------------------- metadata values


def _text(raw: bytes):
    """Decode C-string bytes as text (trailing NULs dropped); keep bytes that are not text."""
    try:
        return raw.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return raw


def _plain(value: Any) -> Any:
    """Convert ``value`` to types the metadata codec stores (``str(value)`` as a last resort)."""
    if isinstance(value, np.generic):  # first: np.str_ is a str, np.float64 a float
        if isinstance(value, np.bytes_):
            return _text(bytes(value))
        if isinstance(value, np.str_):
            return str(value)
        if isinstance(value, np.void):
            return _plain(np.asarray(value))
        if value.dtype.kind in "biufc":
            return value
        return str(value)
    if value is None or type(value) in (bool, str, int, float, complex) or isinstance(value, _dt.date):
        return value
    if isinstance(value, str):  # a str subclass: the codec would give back a plain str anyway
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return _text(bytes(value))
    if isinstance(value, np.ndarray):
        return _plain_array(value)
    if isinstance(value, Mapping):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (list, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, _dt.time):
        return value.isoformat()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Complex):
        return complex(value)
    if hasattr(value, "compute") and hasattr(value, "dtype"):  # a dask array inside the metadata
        return _plain(np.asarray(value.compute()))
    return str(value)


def _plain_array(value: np.ndarray) -> Any:
    if value.dtype.names:
        if value.ndim == 0:
            return {name: _plain(value[name]) for name in value.dtype.names}
        return [_plain_array(v) for v in value]
    if value.dtype.kind in "biufc" and not value.dtype.hasobject:
        return np.array(value, copy=True)  # never a view of a mapped file
    if value.dtype.kind in "SUO":
        return _plain(value.tolist())
    return str(value.tolist())


def _plain_key(key: Any):
    key = _plain(key)
    try:
        hash(key)
    except TypeError:
        return str(key)
    return key


# ------------------------------------------- the reader's mapping to normalised metadata


def _slug(name) -> str:
    """Name of a key as HyperSpy's metadata tree spells it (``"Exposure (s)"`` -> ``"Exposure_s"``)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip()
    return re.sub(r"[-\s]+", "_", text)


def _child(node, part: str):
    if not isinstance(node, Mapping):
        raise KeyError(part)
    if part in node:
        return node[part]
    wanted = _slug(part)
    for key, value in node.items():
        if _slug(key) == wanted:
            return value
    raise KeyError(part)


class _Tree(dict):
    """A metadata branch given to a reader's mapping function, as HyperSpy would give it.

    Keys are slugged (``"Integration_time_s"``), ``get`` takes dotted paths and
    attributes reach children, which is what RosettaSciIO's mapping functions expect.
    """

    def __init__(self, tree: Mapping):
        super().__init__({_slug(k): _Tree(v) if isinstance(v, Mapping) else v for k, v in tree.items()})

    def get(self, path, default=None):  # noqa: D102 - dict.get with dotted paths
        node = self
        try:
            for part in str(path).split("."):
                node = _child(node, part)
        except KeyError:
            return default
        return node

    def __getattr__(self, name):
        try:
            return _child(self, name)
        except KeyError:
            raise AttributeError(name) from None


def _apply_mapping(mapping, original: Mapping, metadata: dict) -> None:
    """Fill ``metadata`` from ``original`` with a reader's ``{source path: (target path, function)}``."""
    if not isinstance(mapping, Mapping):
        return
    for source, target in mapping.items():
        try:
            target_path, function = target
            value = original
            for part in str(source).split("."):
                value = _child(value, part)
            if isinstance(value, Mapping):
                value = _Tree(value)
            if function is not None:
                value = function(value)
        except Exception as err:  # one odd item must not stop the loading
            logger.debug("metadata mapping %r failed: %s", source, err)
            continue
        if value is None:
            continue
        node = metadata
        *parents, leaf = str(target_path).split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value


# ---------------------------------------------------------------- axes


def _units(axis: Mapping) -> str | None:
    units = axis.get("units")
    if units is None:
        return None
    units = _plain(units)
    if not isinstance(units, str) or units.strip().lower() in _UNDEFINED_UNITS:
        return None
    return units


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _axes_metadata(axes, ndim: int, shift: int, metadata: dict) -> None:
    """Record every axis under ``axes.<i>.*`` and the last two as ``calibration.y`` and ``calibration.x``.

    ``ndim`` is the number of dimensions of the image; ``shift`` how many leading
    axes of length 1 were added to make a 1-D signal 2-D.
    """
    if not isinstance(axes, (list, tuple)):
        return
    by_index = {}
    for position, axis in enumerate(axes):
        if isinstance(axis, Mapping):
            index = axis.get("index_in_array", position)
            index = int(index) if isinstance(index, numbers.Integral) else position
            by_index[index + shift] = axis
    for i, axis in sorted(by_index.items()):
        name = axis.get("name")
        name = str(_plain(name)) if name is not None and str(name) not in ("", "<undefined>") else None
        if name is not None:
            metadata[f"axes.{i}.name"] = name
        if "size" in axis:
            metadata[f"axes.{i}.size"] = _plain(axis["size"])
        metadata[f"axes.{i}.navigate"] = bool(axis.get("navigate", False))
        units = _units(axis)
        if units is not None:
            metadata[f"axes.{i}.units"] = units
        if axis.get("axis") is not None:  # non-uniform: the coordinates themselves
            metadata[f"axes.{name}" if name else f"axes.{i}.axis"] = _plain(np.asarray(axis["axis"]))
            continue
        if axis.get("expression") is not None:  # a functional axis: no single pixel size either
            metadata[f"axes.{i}.expression"] = str(axis["expression"])
            continue
        scale, offset = _finite(axis.get("scale", 1.0)), _finite(axis.get("offset", 0.0))
        if scale is None or offset is None:
            continue
        metadata[f"axes.{i}.scale"] = scale
        metadata[f"axes.{i}.offset"] = offset
        letter = {ndim - 1: "x", ndim - 2: "y"}.get(i)
        if letter is not None:
            metadata[f"calibration.{letter}.scale"] = scale
            metadata[f"calibration.{letter}.offset"] = offset
            if units is not None:
                metadata[f"calibration.{letter}.units"] = units


# ---------------------------------------------------------------- loading


def _load(path, name: str, plugin: str, index, kwargs: dict) -> ImageFile:
    signals, version = _read(path, name, plugin, kwargs)
    if not signals:
        raise FormatMismatch(f"RosettaSciIO's {plugin} reader found no data in it")
    chosen = _choose(signals, index, plugin)
    signal = signals[chosen]
    data = _pixels(signal["data"], plugin)
    ndim = np.ndim(signal["data"])  # before a colour channel axis is added
    shift = max(0, 2 - ndim)  # ImageArray makes a 1-D signal a 1 x n image
    if shift:
        data = data.reshape((1,) * shift + data.shape)
    original = signal.get("original_metadata") or {}
    normalised = dict(signal.get("metadata") or {})
    _apply_mapping(signal.get("mapping"), original, normalised)

    flat: dict = {}
    if isinstance(original, Mapping):
        flat.update((key, _plain(value)) for key, value in flat_items(original, "original."))
    flat.update((key, _plain(value)) for key, value in flat_items(normalised, "rsciio."))
    flat["rsciio.reader"] = plugin
    flat["rsciio.version"] = version
    flat["rsciio.signal_index"] = chosen
    flat["rsciio.signals"] = len(signals)
    _axes_metadata(signal.get("axes"), ndim + shift, shift, flat)
    if data.ndim > ndim + shift:
        flat[f"axes.{data.ndim - 1}.name"] = "channel"
        flat[f"axes.{data.ndim - 1}.size"] = data.shape[-1]
        flat[f"axes.{data.ndim - 1}.navigate"] = False
    title = flat.get("rsciio.General.title")
    if isinstance(title, str) and title:
        flat["title"] = title
    return ImageFile(data, metadata=Metadata(flat))


def _make_loader(name: str, extensions: tuple, plugin: str) -> Callable[..., ImageFile]:
    def loader(path, *, index: int | None = None, **kwargs) -> ImageFile:
        return _load(path, name, plugin, index, kwargs)

    loader.__name__ = loader.__qualname__ = f"load_{name}"
    loader.__module__ = __name__
    loader.__doc__ = f"""Load {plugin} data ({", ".join(extensions)}) through RosettaSciIO.

    Parameters
    ----------
    path : str or os.PathLike
        The file, opened read-only.
    index : int, optional
        Which of the file's signals to load; by default the first with at least
        two dimensions.
    **kwargs
        Options of RosettaSciIO's ``rsciio.{plugin.lower()}.file_reader``
        (``lazy`` is not accepted).

    Returns
    -------
    ImageFile
        The pixels in NumPy order with ``original.*``, ``rsciio.*``, ``axes.*``
        and ``calibration.*`` metadata.

    Raises
    ------
    ImportError
        If RosettaSciIO is not installed ({INSTALL_HINT}).
    stonerimg.errors.FormatMismatch
        If RosettaSciIO cannot read the file as {plugin}.
    """
    return loader


for _name, (_extensions, _plugin) in RSCIIO_FORMATS.items():
    globals()[f"load_{_name}"] = _make_loader(_name, _extensions, _plugin)
del _name, _extensions, _plugin
