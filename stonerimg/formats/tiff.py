"""TIFF through tifffile.

Saving writes the pixels in their own dtype and our JSON document (metadata,
dtype, shape, mask) as the image description.  When the image is calibrated in a
length unit, the resolution tags (pixels per centimetre, ``ResolutionUnit`` = cm)
carry the pixel size too, so ImageJ/Fiji and other TIFF readers show the same scale
(the image description stays ours, so ImageJ's own ``unit=`` description is not written).

Loading reads our files back exactly, files saved by the Stoner package (JSON
``key{Type}=value`` lists in the description, the dtype from ``ImageArray.dtype``)
and any other TIFF, keeping its simple tags under ``tiff.<TagName>`` and filling the
calibration from, in increasing precedence: the resolution tags (with ImageJ's
``unit=``, ``spacing=`` and origins, or centimetres); DigitalMicrograph's private tags
(65003...); the vendor metadata tifffile parses (FEI/Thermo Fisher ``fei_metadata``,
Zeiss ``sem_metadata``), kept under ``fei.*`` and ``sem.*``.
"""

from __future__ import annotations

import enum
import json
import numbers
import os

import numpy as np

from ..errors import FormatError, FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata
from . import atomic_path
from ._payload import encode_payload, is_payload, payload_document, stoner_dtype, stoner_metadata
from ._text import normalise_units

# Tags describing the file layout, not the image: not copied into metadata.
_LAYOUT_TAGS = {
    "ImageDescription",
    "StripOffsets",
    "StripByteCounts",
    "TileOffsets",
    "TileByteCounts",
    "RowsPerStrip",
    "JPEGTables",
    "ColorMap",
}


#: Length units -> centimetres (the unit of the resolution tags we write).
_CENTIMETRES = {"pm": 1e-10, "Å": 1e-8, "nm": 1e-7, "µm": 1e-4, "mm": 0.1, "cm": 1.0, "m": 100.0}


def _resolution_tags(metadata) -> dict:
    """``resolution``/``resolutionunit`` for tifffile from a length calibration of x and y (else nothing)."""
    per_pixel = []
    for axis in ("x", "y"):
        units = metadata.get(f"calibration.{axis}.units")
        scale = metadata.get(f"calibration.{axis}.scale")
        factor = _CENTIMETRES.get(normalise_units(units)) if isinstance(units, str) else None
        try:
            size = abs(float(scale)) * factor
        except (TypeError, ValueError):
            return {}
        if not (size > 0 and np.isfinite(size)):
            return {}
        per_pixel.append(size)
    return {"resolution": (1.0 / per_pixel[0], 1.0 / per_pixel[1]), "resolutionunit": 3}


def save(image, path, **kwargs) -> None:
    """Write ``image`` to ``path`` as a TIFF (atomically).

    Bool images are stored as 8-bit pixels and restored as bool.  A calibration of
    x and y in a length unit is also written as the resolution tags (pixels per cm),
    which ImageJ/Fiji read.  Extra keyword arguments go to :func:`tifffile.imwrite`
    (e.g. ``compression="zlib"``).
    """
    import tifffile

    data = np.asarray(image.data)
    if data.dtype == bool:
        data = data.view(np.uint8)
    rgb = data.ndim == 3 and data.shape[-1] in (3, 4) and data.dtype in (np.uint8, np.uint16)
    kwargs.setdefault("photometric", "rgb" if rgb else "minisblack")
    kwargs = {**_resolution_tags(image.metadata), **kwargs}
    with atomic_path(path) as temp:
        tifffile.imwrite(temp, data, description=encode_payload(image), metadata=None, **kwargs)


def _tag_value(value):
    """Return a tag value as a plain metadata value, or None to skip it."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (str, numbers.Number)):
        return value
    if isinstance(value, tuple) and len(value) <= 16 and all(isinstance(v, numbers.Number) for v in value):
        return value
    return None


def _tags_metadata(page) -> Metadata:
    metadata = Metadata()
    for tag in page.tags:
        if tag.name in _LAYOUT_TAGS:
            continue
        value = _tag_value(tag.value)
        if value is not None:
            metadata[f"tiff.{tag.name}"] = value
    return metadata


def _set_axis(metadata: Metadata, axis: str, scale, offset=0.0, units=None) -> None:
    try:
        scale, offset = float(scale), float(offset)
    except (TypeError, ValueError):
        return
    if not (np.isfinite(scale) and np.isfinite(offset)) or scale == 0:
        return
    metadata[f"calibration.{axis}.scale"] = scale
    metadata[f"calibration.{axis}.offset"] = offset
    units = normalise_units(units) if units is not None else ""
    if units:
        metadata[f"calibration.{axis}.units"] = units
    else:
        metadata.pop(f"calibration.{axis}.units", None)


def _imagej_units(imagej: dict, key: str, default: str) -> str | None:
    units = normalise_units(str(imagej.get(key) or default))
    return None if units.lower() in ("", "pixel", "pixels") else units


def _resolution_and_imagej(page, metadata: Metadata, imagej: dict | None) -> None:
    """Pixel size from the resolution tags, with ImageJ's units, spacing and origins, or centimetres."""
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return
    imagej = imagej or {}
    units = _imagej_units(imagej, "unit", "") if imagej.get("unit") else None
    if units is None:
        if imagej.get("unit") or getattr(tags.get("ResolutionUnit"), "value", None) != 3:
            return  # no unit (ImageJ's "pixel", inches of a printer's dots per inch): uncalibrated
        units = "cm"
    for axis, name in (("x", "XResolution"), ("y", "YResolution")):
        numerator, denominator = tags[name].value
        if numerator:
            scale = denominator / numerator
            axis_units = _imagej_units(imagej, f"{axis}unit", units) if axis == "y" else units
            origin = imagej.get(f"{axis}origin", 0.0)
            _set_axis(metadata, axis, scale, -float(origin) * scale if _is_number(origin) else 0.0, axis_units)
    spacing = imagej.get("spacing")
    if _is_number(spacing):
        origin = imagej.get("zorigin", 0.0)
        offset = -float(origin) * float(spacing) if _is_number(origin) else 0.0
        _set_axis(metadata, "z", spacing, offset, _imagej_units(imagej, "zunit", units))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


#: DigitalMicrograph's private TIFF tags: axis -> (units, offset, scale) tag codes.
_DM_TAGS = {"x": (65003, 65006, 65009), "y": (65004, 65007, 65010), "z": (65005, 65008, 65011)}
_DM_INTENSITY = (65022, 65024, 65025)


def _dm_calibration(page, metadata: Metadata) -> None:
    """Calibration from the private tags of TIFFs saved by DigitalMicrograph (65003 ... 65025)."""
    tags = page.tags
    found = False
    for axis, (units, offset, scale) in _DM_TAGS.items():
        if scale in tags:
            value = tags.valueof(offset) if offset in tags else 0.0
            _set_axis(metadata, axis, tags.valueof(scale), value if _is_number(value) else 0.0, tags.valueof(units))
            found = True
    units, offset, scale = _DM_INTENSITY
    if scale in tags and _is_number(tags.valueof(scale)):
        metadata["calibration.intensity.scale"] = float(tags.valueof(scale))
        value = tags.valueof(offset) if offset in tags else 0.0
        metadata["calibration.intensity.offset"] = float(value) if _is_number(value) else 0.0
        if units in tags and normalise_units(tags.valueof(units)):
            metadata["calibration.intensity.units"] = normalise_units(tags.valueof(units))
    if found:
        metadata["tiff.writer"] = "DigitalMicrograph"


def _in_length_units(metres: float) -> tuple[float, str]:
    """Express a length in metres in nm, µm, mm or m (the largest unit giving at least 1)."""
    for units, factor in (("m", 1.0), ("mm", 1e-3), ("µm", 1e-6)):
        if abs(metres) >= factor:
            return metres / factor, units
    return metres / 1e-9, "nm"


def _flat_plain(tree: dict, prefix: str, metadata: Metadata) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _flat_plain(value, f"{prefix}.{key}", metadata)
        elif isinstance(value, tuple) and _tag_value(value) is None:
            metadata[f"{prefix}.{key}"] = [v if _tag_value(v) is not None else str(v) for v in value]
        elif value is not None:
            metadata[f"{prefix}.{key}"] = value if _tag_value(value) is not None else str(value)


def _vendor_calibration(page, metadata: Metadata) -> None:
    """FEI/Thermo Fisher and Zeiss SEM metadata (as tifffile parses it): kept, and their pixel size."""
    tags = page.tags
    fei: dict = {}
    for code in (34680, 34682):  # FEI_SFEG, FEI_HELIOS
        value = tags.valueof(code) if code in tags else None
        if isinstance(value, dict):
            fei.update(value)
    if fei:
        _flat_plain(fei, "fei", metadata)
        scan, beam = fei.get("Scan") or {}, fei.get("Beam") or {}
        for axis, key in (("x", "PixelWidth"), ("y", "PixelHeight")):
            if _is_number(scan.get(key)) and scan[key] > 0:
                value, units = _in_length_units(float(scan[key]))
                _set_axis(metadata, axis, value, 0.0, units)
        if _is_number(beam.get("HV")):
            metadata["microscope.voltage"] = float(beam["HV"])
            metadata["microscope.voltage.units"] = "V"
        metadata["tiff.writer"] = "FEI"
    sem = tags.valueof(34118) if 34118 in tags else None  # CZ_SEM
    if isinstance(sem, dict):
        for key, item in sem.items():
            if key and isinstance(item, tuple) and len(item) >= 2:
                metadata[f"sem.{key}"] = item[1] if _tag_value(item[1]) is not None else str(item[1])
                if len(item) > 2:
                    metadata[f"sem.{key}.units"] = str(item[2])
        for key in ("ap_image_pixel_size", "ap_pixel_size"):
            item = sem.get(key)
            if isinstance(item, tuple) and len(item) > 2 and _is_number(item[1]) and item[1] > 0:
                for axis in ("x", "y"):
                    _set_axis(metadata, axis, item[1], 0.0, item[2])
                break
        volts = sem.get("ap_actualkv")
        if isinstance(volts, tuple) and len(volts) > 2 and _is_number(volts[1]) and str(volts[2]).lower() == "kv":
            metadata["microscope.voltage"] = float(volts[1]) * 1000.0
            metadata["microscope.voltage.units"] = "V"
        metadata["tiff.writer"] = "Zeiss SEM"


def _resolution_calibration(page, metadata: Metadata, imagej: dict | None) -> None:
    """Fill ``calibration.*`` of a TIFF that is not ours: resolution/ImageJ, then DM tags, then vendor metadata."""
    _resolution_and_imagej(page, metadata, imagej)
    _dm_calibration(page, metadata)
    _vendor_calibration(page, metadata)


def _is_entry_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(e, str) and "=" in e for e in value)


def _stoner_frames(description: str):
    """Return the ``key{Type}=value`` lists of a Stoner description, one per frame, or None.

    A single image's description holds one list (or, in old files, is the bare
    list); a multi-page file saved from a Stoner folder holds one list per page.
    """
    if not description.lstrip().startswith(("{", "[")):
        return None
    try:
        doc = json.loads(description)
    except ValueError:
        return None
    if isinstance(doc, dict):
        entries = doc.get("metadata")
    elif isinstance(doc, list) and any(isinstance(e, str) and "}=" in e for e in doc):
        entries = doc  # the bare list of older versions: typed entries show it is Stoner's
    else:
        return None
    if _is_entry_list(entries) and entries:
        return [entries]
    if isinstance(entries, list) and entries and all(_is_entry_list(e) for e in entries):
        return entries
    return None


def _check_size(tif, file_size: int, *, in_memory: bool = True) -> None:
    """Refuse a file whose tags describe more than it can hold, on every page, before anything is allocated.

    Every strip or tile must lie inside the file, every page's declared size must
    fit in its strips at its compression's largest expansion, and (for a load into
    memory) all pages together must fit under ``stonerimg.config.max_image_bytes``.
    """
    from ._limits import TIFF_COMPRESSION, check_declared

    path = tif.filehandle.path
    total = 0
    for index, page in enumerate(tif.pages):
        if page is None:
            continue
        what = f"page {index}"
        stored = 0
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
            if offset + count > file_size:
                raise FormatError(
                    path,
                    reason=f"{what} has a strip of {count} bytes at byte {offset}, beyond the end of this "
                    f"{file_size}-byte file: a truncated or damaged file",
                )
            stored += count
        nbytes = int(getattr(page, "nbytes", 0) or 0)
        total += nbytes
        compression = TIFF_COMPRESSION.get(int(getattr(page, "compression", 1)))
        check_declared(path, nbytes, what=what, stored=stored, compression=compression, in_memory=False)
    check_declared(path, total, what=f"the {len(tif.pages)} page(s)", compression=None, in_memory=in_memory)


def foreign_metadata(tif, page) -> tuple[Metadata, bool]:
    """Read the metadata of a TIFF that is not ours: tags, ImageJ items, Stoner items, calibration.

    Returns
    -------
    (Metadata, bool)
        The metadata, and whether it came from the Stoner package (whose
        ``ImageArray.dtype`` item may ask for another dtype than the stored one).
    """
    metadata = _tags_metadata(page)
    imagej = tif.imagej_metadata if tif.is_imagej else None
    if imagej:
        metadata.update({f"imagej.{k}": v for k, v in imagej.items() if _tag_value(v) is not None})
    _resolution_calibration(page, metadata, imagej)
    description = page.description or ""
    frames = _stoner_frames(description)
    if frames is not None:
        per_frame = [stoner_metadata(entries) for entries in frames]
        metadata.update(per_frame[0])
        if len(per_frame) > 1:
            metadata["frames"] = [dict(m) for m in per_frame]
    elif description:
        metadata["tiff.ImageDescription"] = description
    return metadata, frames is not None


def load(path) -> ImageFile:
    """Read a TIFF file (the first series of pages).

    What tifffile logs while reading (``TiffTag.fromfile raised ...``) becomes part
    of the reason when the file cannot be read.
    """
    from . import library_log

    with library_log("tifffile") as said:
        try:
            return _read(path)
        except (MemoryError, PermissionError, FileNotFoundError):
            raise
        except FormatMismatch as err:
            if not said:
                raise
            raise FormatMismatch(f"{err} (tifffile: {'; '.join(dict.fromkeys(said))})") from err
        except Exception as err:
            if not said:
                raise
            what = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
            raise ValueError(f"{what} (tifffile: {'; '.join(dict.fromkeys(said))})") from err


def _read(path) -> ImageFile:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            _check_size(tif, os.fstat(tif.filehandle.fileno()).st_size)
            page = tif.pages.first
            description = page.description or ""
            if is_payload(description):
                data = np.concatenate([p.asarray()[None] for p in tif.pages]) if len(tif.pages) > 1 else page.asarray()
                return payload_document(description, data)
            data = tif.series[0].asarray() if tif.series else page.asarray()
            metadata, from_stoner = foreign_metadata(tif, page)
            if from_stoner:
                data = stoner_dtype(metadata, data)
    except tifffile.TiffFileError as err:
        raise FormatMismatch(f"not a readable TIFF file: {err}") from err
    return ImageFile(data, metadata=metadata)
