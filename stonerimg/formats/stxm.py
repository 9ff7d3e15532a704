"""Swiss Light Source PolLux STXM images (HDF5/NeXus ``NXstxm``) as :class:`STXMImage`.

The file has one ``entry1`` group whose ``definition`` is ``NXstxm``; the image
is ``entry1/counter0/data`` stored as ``[sample_y index, sample_x index]`` and
``entry1/control/data`` is the beam monitor.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..array import ImageArray
from ..errors import FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata
from . import atomic_path
from ._axis import even_spacing
from ._limits import check_dataset, check_declared
from ._payload import encode_payload, payload_document

__all__ = ["STXMImage", "load", "save"]

_PAYLOAD_ATTR = "stonerimg"


class STXMImage(ImageFile):
    """A scanning transmission X-ray microscope image with its polarization.

    Loading (``STXMImage(path)``, ``STXMImage.load(path)`` or ``stonerimg.load(path)``)
    gives the image so that **row 0 is the highest** ``sample_y`` (the orientation of
    the Stoner package, y up on screen) and column 0 the lowest ``sample_x``: a scan
    of ``len(sample_y)`` lines of ``len(sample_x)`` points is a
    ``(len(sample_y), len(sample_x))`` array, never transposed.  Consequently the y
    calibration has a negative scale (``y = offset + scale * row``).

    Metadata holds every item of ``entry1`` under its dotted path (see
    :func:`stonerimg.formats.nexus.hdf5_metadata`), the file's own attributes under
    ``file.``, and the normalised keys ``energy`` (eV), ``polarization``,
    ``calibration.*``, ``sample_x``/``sample_y`` (the nominal stage positions of each
    pixel), ``actual_x``/``actual_y`` (the interferometer positions, when recorded)
    and ``beam current`` (the monitor counts), all oriented like the image.

    ``a // b`` of two STXM images with opposite polarization is the XMCD ratio
    ``(plus - minus) / (plus + minus)``, whichever order they are given in.

    Loader options: ``regrid=True`` (or a dict of :func:`~stonerimg.funcs.grid.gridimage`
    arguments) re-samples the image from the actual onto the nominal positions;
    ``bcn=True`` divides by the beam current.
    """

    @property
    def polarization(self) -> int:
        """Sign of the polarization: +1, -1, or 0 for unpolarised light (or unknown)."""
        value = self.metadata.get("polarization", 0.0)
        if not isinstance(value, numbers.Real):
            return 0
        return int(np.sign(value))

    @property
    def beam_current(self) -> ImageArray:
        """The beam monitor (``entry1/control/data``) as an image oriented like this one."""
        if "beam current" not in self.metadata:
            raise KeyError("this image has no 'beam current' metadata")
        monitor = ImageArray(np.asarray(self.metadata["beam current"]))
        monitor.metadata.update({k: v for k, v in self.metadata.items() if k.startswith("calibration.")})
        return monitor

    def __floordiv__(self, other) -> STXMImage:
        """XMCD ratio ``(plus - minus) / (plus + minus)`` of two images of opposite polarization."""
        if not isinstance(other, STXMImage):
            raise TypeError(f"XMCD (//) needs two STXM images with a polarization, not {type(other).__name__}")
        signs = (self.polarization, other.polarization)
        if 0 in signs:
            raise ValueError("XMCD (//): an image has no polarization (its 'polarization' metadata is 0 or missing)")
        if signs[0] == signs[1]:
            raise ValueError(f"XMCD (//): both images have the same polarization sign ({signs[0]:+d})")
        plus, minus = (self, other) if signs[0] > 0 else (other, self)
        if plus.shape != minus.shape:
            raise ValueError(f"XMCD (//): shapes differ, {plus.shape} and {minus.shape}")
        p = plus.image.astype(np.float64)
        m = minus.image.astype(np.float64)
        ratio = (p - m) / (p + m)
        result = plus._new_like(ratio)
        result.metadata["polarization"] = 0.0
        result.metadata["xmcd"] = {"plus": plus.filename, "minus": minus.filename}
        result.metadata["history"] = [*plus.metadata.get("history", []), "xmcd(plus // minus)"]
        return result


def _first(value):
    """Return the scalar of a 1-element array (as the PolLux files store their scalars)."""
    array = np.asarray(value)
    return array.reshape(-1)[0] if array.size == 1 else value


def _uniform_calibration(positions: np.ndarray, flip: bool) -> tuple[float, float] | None:
    """``(scale, offset)`` of evenly spaced positions, or None when they are not."""
    positions = np.asarray(positions, dtype=float)
    return even_spacing(positions[::-1] if flip else positions, rtol=1e-3)


def _pollux_metadata(handle):
    """Return ``(entry1/counter0/data dataset, metadata)`` of an open PolLux file, without reading the pixels.

    The metadata is oriented like the image :func:`load` gives (row 0 = highest
    ``sample_y``); the dataset is stored the other way up.
    """
    import h5py

    from ._text import decode_text, normalise_units
    from .nexus import _file_metadata

    entry = handle.get("entry1")
    if entry is None or "definition" not in entry:
        raise FormatMismatch("HDF5 file without an entry1/definition: not a PolLux STXM file")
    definition = decode_text(_first(entry["definition"][()]))
    if definition != "NXstxm":
        raise FormatMismatch(f"HDF5 file whose definition is {definition!r}, not 'NXstxm'")
    path = handle.filename

    def read(name, dtype=float):
        dataset = entry[name]
        check_dataset(path, dataset)
        return np.asarray(dataset[()], dtype=dtype)

    try:
        counts = entry["counter0/data"]
        sample_x = read("counter0/sample_x").reshape(-1)
        sample_y = read("counter0/sample_y").reshape(-1)
    except KeyError as err:
        raise FormatMismatch(f"NXstxm file without {err.args[0] if err.args else 'counter0 data'}") from err
    if counts.shape != (sample_y.size, sample_x.size):
        raise ValueError(
            f"counter0/data has shape {counts.shape}, expected (len(sample_y), len(sample_x)) = "
            f"({sample_y.size}, {sample_x.size})"
        )
    check_dataset(path, counts, in_memory=False)
    # the position grids (and the monitor) are counts.size float64 values each, kept in memory
    check_declared(path, 4 * 8 * counts.size, what="the sample position grids", compression=None)
    metadata = _file_metadata(h5py, handle, entry)

    flip = (slice(None, None, -1), slice(None))  # row 0 = highest sample_y
    grid_x, grid_y = np.meshgrid(sample_x, sample_y)
    metadata["sample_x"] = grid_x[flip].copy()
    metadata["sample_y"] = grid_y[flip].copy()
    for axis in ("x", "y"):
        name = f"instrument/sample_{axis}/data"
        if name in entry and entry[name].size == counts.size:
            metadata[f"actual_{axis}"] = read(name).reshape(counts.shape)[flip].copy()
    if "control/data" in entry and entry["control/data"].shape == counts.shape:
        metadata["beam current"] = read("control/data")[flip].copy()

    units = decode_text(_first(entry["counter0/sample_x"].attrs.get("units", b"")))
    for axis, positions, reverse in (("x", sample_x, False), ("y", sample_y, True)):
        calibration = _uniform_calibration(positions, reverse)
        if calibration is not None:
            metadata[f"calibration.{axis}.scale"], metadata[f"calibration.{axis}.offset"] = calibration
            metadata[f"calibration.{axis}.units"] = normalise_units(units) or "µm"
    for key, normalised in (("collection.energy.value", "energy"), ("collection.polarization.value", "polarization")):
        value = metadata.get(key)
        if isinstance(value, (numbers.Real, np.generic)):
            metadata[normalised] = float(value)
    metadata.setdefault("energy.units", "eV")
    return counts, metadata


def _read_pollux(handle) -> tuple[np.ndarray, Metadata]:
    """Return the image (row 0 = highest ``sample_y``) and metadata of an open PolLux file."""
    counts, metadata = _pollux_metadata(handle)
    check_dataset(handle.filename, counts)
    return np.asarray(counts[()])[::-1], metadata


def load(path, *, regrid=False, bcn: bool = False) -> STXMImage:
    """Read a PolLux NXstxm file (see :class:`STXMImage` for orientation and metadata).

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file, opened read-only.
    regrid : bool or dict, default False
        Re-sample onto the nominal grid from the interferometer positions
        (a dict gives :func:`~stonerimg.funcs.grid.gridimage` arguments).
    bcn : bool, default False
        Beam-current normalise: divide by the beam monitor.
    """
    from ._hdf5 import open_hdf5

    with open_hdf5(path) as handle:
        saved = handle.get("entry1")
        if saved is not None and _PAYLOAD_ATTR in saved.attrs:
            check_dataset(path, saved["counter0/data"])
            data = np.asarray(saved["counter0/data"][()])[::-1]
            return payload_document(str(saved.attrs[_PAYLOAD_ATTR]), data, STXMImage)
        image, metadata = _read_pollux(handle)
    document = STXMImage(image, metadata=metadata)
    if regrid:
        document.gridimage(**(regrid if isinstance(regrid, dict) else {}))
    if bcn:
        if "beam current" not in document.metadata:
            raise ValueError(f"bcn: {path} has no beam monitor (entry1/control/data) to normalise by")
        document.image = document.image / document.metadata["beam current"]
        document.metadata["history"] = [*document.metadata.get("history", []), "bcn()"]
    return document


def save(image, path, **kwargs) -> None:
    """Write an NXstxm HDF5 file that loads back as an equal :class:`STXMImage`.

    The image, its nominal positions and beam monitor are written in the PolLux
    layout (so other NeXus readers see a sensible file), and the complete metadata
    and mask are kept as a JSON attribute of ``entry1``.
    """
    import h5py

    data = np.asarray(image.data)
    if data.ndim != 2:
        raise ValueError(f"image: an STXM file holds a 2-D image, not shape {data.shape}")
    md = image.metadata
    with atomic_path(path) as temp, h5py.File(temp, "w") as handle:
        handle.attrs["NX_class"] = "NXroot"
        entry = handle.create_group("entry1")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs[_PAYLOAD_ATTR] = encode_payload(image)
        entry["definition"] = np.array([b"NXstxm"])
        counter = entry.create_group("counter0")
        counter.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["sample_y", "sample_x"]})
        counter["data"] = data[::-1]
        rows, cols = data.shape
        cal = image.calibration
        x = (
            np.asarray(md["sample_x"])[0]
            if np.shape(md.get("sample_x")) == data.shape
            else cal.x.to_physical(np.arange(cols))
        )
        y = (
            np.asarray(md["sample_y"])[::-1, 0]
            if np.shape(md.get("sample_y")) == data.shape
            else cal.y.to_physical(np.arange(rows)[::-1])
        )
        for name, values in (("sample_x", x), ("sample_y", y)):
            counter[name] = values
            counter[name].attrs["units"] = (cal.x.units if name == "sample_x" else cal.y.units).encode("utf-8")
        if np.shape(md.get("beam current")) == data.shape:
            control = entry.create_group("control")
            control.attrs["NX_class"] = "NXmonitor"
            control["data"] = np.asarray(md["beam current"])[::-1]
