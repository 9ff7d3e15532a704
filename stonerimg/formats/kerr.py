"""Kerr microscope images (PNG from NI IMAQ Vision / the Evico "Kermit" software) as :class:`KerrImage`."""

from __future__ import annotations

import numbers
import re

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from . import png

__all__ = ["ANNOTATED_SIZE", "IMAGE_SIZE", "KerrImage", "is_kerr_metadata", "load"]

#: ``(rows, cols)`` of a standard Kerr image, and of one with the annotation band below it.
IMAGE_SIZE = (512, 672)
ANNOTATED_SIZE = (554, 672)

_UNITS = {"Oerstedt": "Oe", "mT": "mT", "kA/m": "kA/m"}


def is_kerr_metadata(metadata) -> bool:
    """Tell whether metadata carries the Kerr software's signature (as the Stoner package tests it)."""
    version = metadata.get("Version", "")
    return (
        "X-B-2d" in metadata or "field: units" in metadata or ("IMAQ" in version if isinstance(version, str) else False)
    )


class KerrImage(ImageFile):
    """A Kerr microscope image with its typed instrument metadata.

    Besides every text chunk of the file (typed by its ``{Type}`` hint), loading
    fills the normalised keys ``field`` (the applied field ``X-B-2d``),
    ``field.units`` and, from ``MicronsPerPixel``, ``calibration.{x,y}`` in µm.
    """

    @property
    def field(self) -> float:
        """The applied magnetic field (metadata ``field``; NaN when unknown)."""
        value = self.metadata.get("field", float("nan"))
        return float(value) if isinstance(value, numbers.Real) else float("nan")

    def crop_text(self, copy: bool = False) -> KerrImage:
        """Remove the instrument's annotation band below the image (in place); return the image.

        The band (the scale, magnification, field and comment the Kerr software
        burns into the bottom of an image: black rows with grey text) is found
        from the pixels themselves, whatever the layout (``554 x 672`` images,
        ``479 x 359`` ones such as ``kermit.png``); the load records it as
        ``metadata["annotation.band"] = (first_row, stop_row)``.  An image without
        a band is left as it is.
        """
        band = text_band(self.data) if self.ndim == 2 else None
        if band is None and self.shape == ANNOTATED_SIZE:
            band = (IMAGE_SIZE[0], ANNOTATED_SIZE[0])  # the standard layout, whatever its pixels
        if band is not None:
            self.crop(None, None, None, band[0], copy=copy)
        self.metadata.pop("annotation.band", None)
        return self


#: A row of the annotation band is mostly pure black (the text is grey on black); image rows
#: of a Kerr picture have almost no pixel at exactly 0.
_BAND_ROW_BLACK = 0.5
_EDGE_ROW_BLACK = 0.05


def text_band(data) -> tuple[int, int] | None:
    """Return ``(first_row, rows)`` of the annotation band at the bottom of ``data``, or None.

    The band is the run of rows at the bottom in which at least half the pixels
    are exactly 0 (black, with grey text), extended upwards over the anti-aliased
    edge rows (more than 5 % black).  It must leave at least half of the image.
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] < 4 or data.dtype.kind not in "uif":
        return None
    rows = data.shape[0]
    if np.count_nonzero(data[-1] == 0) < _BAND_ROW_BLACK * data.shape[1]:
        return None  # the bottom row is not black: no band (and nothing more to read)
    top = max(rows // 2 - 1, 0)  # a band leaves at least half the image: only the rows below are looked at
    black = np.zeros(rows)
    black[top:] = np.count_nonzero(data[top:] == 0, axis=1) / data.shape[1]
    first = rows
    while first > top and black[first - 1] >= _BAND_ROW_BLACK:
        first -= 1
    while first > top and black[first - 1] > _EDGE_ROW_BLACK:
        first -= 1
    if first < rows // 2:
        return None  # not a band below an image: a dark image
    return first, rows


#: Text hidden under layers of quotes and backslashes by files re-saved with old Stoner versions:
#: a value wrapped in (backslash-escaped) quotes, again and again.
_WRAPPED = re.compile(r"\\+([\"'])(.*?)\\+\1", re.S)


def unescape_layers(text: str) -> str:
    r"""Return the text the instrument wrote from a value old Stoner versions escaped on every save.

    ``\"\\\'TEst\\\ Image\\\'\"`` -> ``TEst Image``: the backslash-escaped
    quotes around the value are removed layer by layer, then every run of escaping
    backslashes before a punctuation character or a space goes; a backslash before
    a letter or digit is the instrument's own (LabVIEW's ``\09`` tab, ``\0D\0A``
    line end, a Windows path) and one is kept.  Text that is not wrapped in escaped
    quotes is returned as it is.
    """
    inner, layers = text, 0
    while (match := _WRAPPED.fullmatch(inner)) is not None:
        inner, layers = match[2], layers + 1
    if not layers:
        return text
    inner = re.sub(r"\\+(?=[0-9A-Za-z])", lambda _m: "\\", inner)
    return re.sub(r"\\+([^0-9A-Za-z\\])", r"\1", inner)


def _normalise(metadata) -> None:
    for key, value in list(metadata.items()):
        if isinstance(value, str) and value.startswith("\\"):
            metadata[key] = unescape_layers(value)
    field = metadata.get("X-B-2d")
    if isinstance(field, numbers.Real) and not isinstance(field, bool):
        metadata.setdefault("field", float(field))
    units = metadata.get("field: units")
    if isinstance(units, str):
        # files re-saved by old Stoner versions wrap strings in layers of quotes and backslashes
        units = re.sub(r"[\\\"']", "", units).strip()
        if units:
            metadata.setdefault("field.units", _UNITS.get(units, units))
    pixel = metadata.get("MicronsPerPixel")
    if isinstance(pixel, numbers.Real) and not isinstance(pixel, bool) and pixel > 0:
        for axis in "xy":
            metadata.setdefault(f"calibration.{axis}.scale", float(pixel))
            metadata.setdefault(f"calibration.{axis}.offset", 0.0)
            metadata.setdefault(f"calibration.{axis}.units", "µm")


def _has_kerr_chunks(source) -> bool:
    """Tell from the text chunks' keywords (and a short ``Version`` text) whether a PNG is the Kerr software's.

    ``source`` is a path or a :class:`~stonerimg.formats.png.PngSource` (the chunk
    table walked once for the whole load).  Only chunk headers and the first bytes of text
    chunks are looked at, so a PNG that is not Kerr's is declined before its pixels
    are decoded or its metadata parsed (the PNG format does that once).  A PNG
    saved by stonerimg may be a Kerr image: its own metadata decides.
    """
    from ..metadata import split_typed_key

    if not isinstance(source, png.PngSource):
        source = png.PngSource(source)
    for head in source.texts:
        keyword = head.split(b"\0", 1)[0].decode("latin-1")
        name = split_typed_key(keyword)[0]
        if name in ("X-B-2d", "field: units", png.PAYLOAD_KEY):  # our own payload: its metadata decides
            return True
        if name == "Version" and b"IMAQ" in head:
            return True
    return False


def load(path) -> KerrImage:
    """Read a Kerr PNG; declines PNGs without the Kerr software's metadata."""
    source = png.PngSource(path)
    if not _has_kerr_chunks(source):
        raise FormatMismatch("a PNG without the Kerr microscope metadata (X-B-2d, field: units or IMAQ Version)")
    document = png.read(source)
    if not is_kerr_metadata(document.metadata):
        raise FormatMismatch("a PNG without the Kerr microscope metadata (X-B-2d, field: units or IMAQ Version)")
    _normalise(document.metadata)
    band = text_band(document.data)
    if band is not None:  # where the burned-in text is, so a scale bar can keep clear of it
        document.metadata["annotation.band"] = band
    return KerrImage(document.image)
