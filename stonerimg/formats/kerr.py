"""Kerr microscope images (PNG from NI IMAQ Vision / the Evico "Kermit" software) as :class:`KerrImage`."""

from __future__ import annotations

import numbers
import re

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
        """Remove the annotation band below a standard Kerr image (in place); return the image.

        A ``554 x 672`` image (with the band) is cropped to its top ``512`` rows;
        images of any other size have no band and are left untouched.
        """
        if self.shape == ANNOTATED_SIZE:
            self.crop(None, None, None, IMAGE_SIZE[0], copy=copy)
        return self


def _normalise(metadata) -> None:
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


def load(path, **kwargs) -> KerrImage:
    """Read a Kerr PNG; declines PNGs without the Kerr software's metadata."""
    document = png.load(path, **kwargs)
    if not is_kerr_metadata(document.metadata):
        raise FormatMismatch("a PNG without the Kerr microscope metadata (X-B-2d, field: units or IMAQ Version)")
    _normalise(document.metadata)
    if document.shape == ANNOTATED_SIZE:  # where the burned-in text is, so a scale bar can keep clear of it
        document.metadata.setdefault("annotation.box", (0, ANNOTATED_SIZE[1], IMAGE_SIZE[0], ANNOTATED_SIZE[0]))
    return KerrImage(document.image)
