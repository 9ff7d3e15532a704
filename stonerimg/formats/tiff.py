"""TIFF through tifffile.

Saving writes the pixels in their own dtype and our JSON document (metadata,
dtype, shape, mask) as the image description.  Loading reads our files back
exactly, files saved by the Stoner package (JSON ``key{Type}=value`` lists in the
description, the dtype from ``ImageArray.dtype``) and any other TIFF, keeping
its simple tags under ``tiff.<TagName>`` and, for ImageJ files, its metadata
under ``imagej.<key>`` and its pixel size as the calibration.
"""

from __future__ import annotations

import enum
import json
import numbers
import os

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata
from . import atomic_path
from ._payload import decode_payload, encode_payload, is_payload, stoner_dtype, stoner_metadata
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


def save(image, path, **kwargs) -> None:
    """Write ``image`` to ``path`` as a TIFF (atomically).

    Bool images are stored as 8-bit pixels and restored as bool.  Extra keyword
    arguments go to :func:`tifffile.imwrite` (e.g. ``compression="zlib"``).
    """
    import tifffile

    data = np.asarray(image.data)
    if data.dtype == bool:
        data = data.view(np.uint8)
    rgb = data.ndim == 3 and data.shape[-1] in (3, 4) and data.dtype in (np.uint8, np.uint16)
    kwargs.setdefault("photometric", "rgb" if rgb else "minisblack")
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


def _resolution_calibration(page, metadata: Metadata, imagej: dict | None) -> None:
    """Pixel size from the resolution tags, with ImageJ's unit or centimetres."""
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return
    if imagej and imagej.get("unit"):
        units = normalise_units(str(imagej["unit"]))
    elif getattr(tags.get("ResolutionUnit"), "value", None) == 3:
        units = "cm"
    else:
        return
    for axis, name in (("x", "XResolution"), ("y", "YResolution")):
        numerator, denominator = tags[name].value
        if numerator:
            metadata[f"calibration.{axis}.scale"] = denominator / numerator
            metadata[f"calibration.{axis}.offset"] = 0.0
            metadata[f"calibration.{axis}.units"] = units


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


#: How much larger than its file a compressed image may be (deflate tops out near 1000:1).
_MAX_COMPRESSION_RATIO = 10_000


def _check_size(tif, file_size: int) -> None:
    """Decline a file whose tags describe an image it cannot hold (a damaged header), before allocating it."""
    series = tif.series[0] if tif.series else None
    pages = series.pages if series is not None else [tif.pages.first]
    compressed = any(getattr(p, "compression", 1) != 1 for p in pages if p is not None)
    declared = series.nbytes if series is not None else tif.pages.first.nbytes
    limit = file_size * (_MAX_COMPRESSION_RATIO if compressed else 1)
    if declared > limit:
        raise FormatMismatch(
            f"truncated or damaged: its tags describe a {declared}-byte image, more than this {file_size}-byte "
            "file can hold"
        )


def load(path, **kwargs) -> ImageFile:
    """Read a TIFF file (the first series of pages)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            _check_size(tif, os.path.getsize(path))
            page = tif.pages.first
            description = page.description or ""
            if is_payload(description):
                data = np.concatenate([p.asarray()[None] for p in tif.pages]) if len(tif.pages) > 1 else page.asarray()
                data, metadata, mask = decode_payload(description, data)
                return ImageFile(data, mask=mask if mask is not None else np.ma.nomask, metadata=metadata)
            data = tif.series[0].asarray() if tif.series else page.asarray()
            metadata = _tags_metadata(page)
            imagej = tif.imagej_metadata if tif.is_imagej else None
            if imagej:
                metadata.update({f"imagej.{k}": v for k, v in imagej.items() if _tag_value(v) is not None})
            _resolution_calibration(page, metadata, imagej)
            frames = _stoner_frames(description)
            if frames is not None:
                per_frame = [stoner_metadata(entries) for entries in frames]
                metadata.update(per_frame[0])
                if len(per_frame) > 1:
                    metadata["frames"] = [dict(m) for m in per_frame]
                data = stoner_dtype(metadata, data)
            elif description:
                metadata["tiff.ImageDescription"] = description
    except tifffile.TiffFileError as err:
        raise FormatMismatch(f"not a readable TIFF file: {err}") from err
    return ImageFile(data, metadata=metadata)
