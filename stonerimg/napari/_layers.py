"""Images to napari layer data and back: calibration, units, axis names, contrast, metadata, masks.

napari layer data are ``(data, kwargs, layer_type)`` tuples.  A stonerimg
calibration ``physical = offset + scale * pixel`` is napari's
``world = translate + scale * index``, so ``scale``/``translate`` come straight
from ``calibration.{y,x}.{scale,offset}`` (an STXM image's negative y scale
included: world coordinates are the stage positions).  The units go to napari
as strings that pint reads; ``"px"`` (stonerimg's "uncalibrated") is napari's
default pixel unit.

This module imports neither napari nor Qt; :mod:`pint` (a napari dependency)
is imported only to check units.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..array import ImageArray
from ..formats._text import normalise_units
from ..imagefile import ImageFile
from ..metadata import Metadata
from ..stack import ImageStack

__all__ = [
    "LayerData",
    "contrast_limits",
    "image_from_layer",
    "layer_state",
    "layers_from",
    "napari_units",
    "units_text",
]

LayerData = tuple[Any, dict, str]

#: Unit strings that mean "not calibrated" (napari's pixel unit).
PIXEL_UNITS = frozenset({"", "px", "pixel", "pixels"})
#: Per-frame metadata keys that name a stack axis, in the order they are looked for.
STACK_KEYS = ("energy", "field", "time")
#: The percentiles of the pixels that set a layer's contrast limits.
PERCENTILES = (0.5, 99.5)
#: Most pixels looked at to set the contrast limits (a regular subsample beyond).
CONTRAST_SAMPLE = 1024 * 1024


def _parse_unit(text: str):
    import pint

    registry = pint.get_application_registry()
    try:
        return registry.parse_expression(text).units
    except Exception:  # pint raises many kinds of error on text that is not a unit
        return None


def napari_units(units, *, spatial: bool = True) -> str | None:
    """Return the unit string napari should get for a stonerimg unit, or None for napari's pixel unit.

    A spatial axis takes a length or an inverse length (real or reciprocal
    space); a stack axis any unit that pint reads back as itself, so text such
    as ``"a.u."`` (which pint would read as year times atomic mass unit) is
    not taken for a unit.
    """
    text = normalise_units(units) if units is not None else ""
    if text.lower() in PIXEL_UNITS:
        return None
    unit = _parse_unit(text)
    if unit is None:
        return None
    if spatial:
        dims = dict(unit.dimensionality)
        return text if set(dims) == {"[length]"} and abs(dims["[length]"]) == 1 else None
    return text if f"{unit:~C}".replace(" ", "") == text.replace(" ", "") else None


def units_text(unit) -> str:
    """Return stonerimg's unit string for a napari (pint) unit or unit string; ``"px"`` for pixels."""
    if unit is None:
        return "px"
    text = unit if isinstance(unit, str) else f"{unit:~C}"
    text = normalise_units(text)
    if text.lower() in PIXEL_UNITS:
        return "px"
    return text


def contrast_limits(plane, mask=None) -> tuple[float, float]:
    """Return the 0.5th and 99.5th percentiles of the finite unmasked pixels (of a subsample of a large plane).

    A physicist's contrast: a few hot or dead pixels do not set the range.
    A flat plane gets ``(value - 0.5, value + 0.5)``; a plane with no finite
    pixel ``(0, 1)``.
    """
    values = np.asarray(plane)
    step = max(1, int(np.ceil(np.sqrt(values.size / CONTRAST_SAMPLE))))
    keep = (slice(None, None, step),) * values.ndim
    values = values[keep]
    if values.dtype.kind == "b":
        return (0.0, 1.0)
    if values.dtype.kind == "c":
        values = np.abs(values)
    good = np.isfinite(values)
    if mask is not None and mask is not np.ma.nomask:
        good &= ~np.asarray(mask)[keep]
    values = values[good]
    if values.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(values, PERCENTILES))
    if not high > low:
        return (low - 0.5, high + 0.5)
    return (low, high)


def _number(value) -> float | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _axis(metadata: Mapping, axis: str) -> tuple[float, float, str | None]:
    """``(scale, translate, napari units)`` of one spatial axis from the calibration keys."""
    scale = _number(metadata.get(f"calibration.{axis}.scale"))
    offset = _number(metadata.get(f"calibration.{axis}.offset"))
    if scale is None or scale == 0:
        return 1.0, offset or 0.0, None
    return scale, offset or 0.0, napari_units(metadata.get(f"calibration.{axis}.units"))


def _evenly_spaced(values: Sequence[float]) -> tuple[float, float] | None:
    """``(step, first)`` of evenly spaced distinct values, else None."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None
    steps = np.diff(values)
    if steps[0] == 0 or not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        return None
    return float(steps[0]), float(values[0])


def _stack_axis(shared: Mapping, records: Sequence[Mapping], n: int) -> dict:
    """Name, scale, translate and units of the stack axis.

    A numeric per-frame ``energy``, ``field`` or ``time`` that changes by a
    constant step names the axis and gives its scale (units from
    ``<key>.units``); otherwise ``calibration.z.*`` (a DigitalMicrograph
    spectrum image); otherwise the axis is the frame number.
    """
    for key in STACK_KEYS:
        if len(records) == n:
            values = [_number(record.get(key, shared.get(key))) for record in records]
        else:  # one image with an (n, y, x) array: a per-frame item is an array of n values
            array = np.asarray(shared.get(key, ()))
            values = [_number(v) for v in array.tolist()] if array.ndim == 1 and array.size == n else []
        if values and None not in values:
            spacing = _evenly_spaced(values)
            if spacing is not None:
                units = shared.get(f"{key}.units", records[0].get(f"{key}.units"))
                return {"label": key, "scale": spacing[0], "translate": spacing[1], "units": _stack_units(units)}
    scale = _number(shared.get("calibration.z.scale"))
    if scale:
        units = shared.get("calibration.z.units")
        label = "energy" if units in ("eV", "keV") else "z"
        offset = _number(shared.get("calibration.z.offset")) or 0.0
        return {"label": label, "scale": scale, "translate": offset, "units": _stack_units(units)}
    return {"label": "frame", "scale": 1.0, "translate": 0.0, "units": None}


def _stack_units(units) -> str | None:
    return napari_units(units, spatial=False) if units is not None else None


def _kwargs(metadata: Metadata, name: str, ndim: int, stack: dict | None, limits) -> dict:
    """Layer keyword arguments shared by the image and its mask."""
    y_scale, y_offset, y_units = _axis(metadata, "y")
    x_scale, x_offset, x_units = _axis(metadata, "x")
    scale, translate, units, labels = [y_scale, x_scale], [y_offset, x_offset], [y_units, x_units], ["y", "x"]
    if ndim == 3:
        stack = stack or {"label": "frame", "scale": 1.0, "translate": 0.0, "units": None}
        scale.insert(0, stack["scale"])
        translate.insert(0, stack["translate"])
        units.insert(0, stack["units"])
        labels.insert(0, stack["label"])
    kwargs = {
        "name": name,
        "scale": tuple(scale),
        "translate": tuple(translate),
        "axis_labels": tuple(labels),
        "metadata": metadata,
    }
    if any(u is not None for u in units):
        kwargs["units"] = tuple(u if u is not None else "pixel" for u in units)
    if limits is not None:
        kwargs["contrast_limits"] = limits
    return kwargs


def _name(metadata: Mapping, filename: str) -> str:
    title = metadata.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    from pathlib import Path

    return Path(filename).stem if filename else "image"


def _mask_layer(mask, image_kwargs: dict) -> LayerData | None:
    """Make the mask a Labels layer (1 = masked) on the image's grid; None when nothing is masked."""
    if mask is None or mask is np.ma.nomask:
        return None
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    kwargs = {key: image_kwargs[key] for key in ("scale", "translate", "axis_labels", "units") if key in image_kwargs}
    kwargs["name"] = f"{image_kwargs['name']} mask"
    kwargs["metadata"] = {"stonerimg.mask_of": image_kwargs["name"]}
    return mask.astype(np.uint8), kwargs, "labels"


def layers_from(document, *, name: str | None = None) -> list[LayerData]:
    """Make napari layer data of an image, a document or a stack (disk-backed ones stay lazy).

    Parameters
    ----------
    document : ImageArray, ImageFile, ImageStack or a disk image from :func:`stonerimg.open`
        What to show.  A disk stack becomes a dask array with one frame per
        chunk, so napari reads only the frames it shows; its contrast limits
        come from the first frame.
    name : str, optional
        The layer name; default the title, else the file's base name.

    Returns
    -------
    list of (data, kwargs, layer_type)
        The Image layer, then a Labels layer of the mask when any pixel is masked.
    """
    if isinstance(document, ImageStack):
        return _stack_layers(document, name)
    image = document.image if isinstance(document, ImageFile) else document
    if not isinstance(image, ImageArray):
        image = ImageArray(np.asarray(image))
    metadata = Metadata(image.metadata)
    filename = getattr(document, "filename", "") or image.filename
    ndim = image.ndim
    if ndim not in (2, 3):
        raise ValueError(f"document: napari shows 2-D images and (n, y, x) stacks, not shape {image.shape}")
    shown = image.data if ndim == 2 else image.data[0]
    shown_mask = image.mask if ndim == 2 or image.mask is np.ma.nomask else image.mask[0]
    stack = _stack_axis(metadata, [], image.shape[0]) if ndim == 3 else None
    kwargs = _kwargs(metadata, name or _name(metadata, filename), ndim, stack, contrast_limits(shown, shown_mask))
    layers = [(image.data, kwargs, "image")]
    mask = _mask_layer(image.mask, kwargs)
    return layers if mask is None else [*layers, mask]


def _stack_layers(stack: ImageStack, name: str | None) -> list[LayerData]:
    from ..disk import DiskImageStack

    metadata = Metadata(stack.metadata)
    records = stack.frame_metadata
    metadata["frame_metadata"] = [Metadata(record) for record in records]
    axis = _stack_axis(stack.metadata, records, len(stack))
    filename = stack.filenames[0] if stack.filenames else ""
    if isinstance(stack, DiskImageStack) and stack.is_disk_image:
        data = stack.to_dask(chunks=(1, -1, -1))
        # the mask of a disk stack is held beside the backend (None when nothing is masked)
        mask = stack.__dict__.get("_frame_mask")
        first = np.asarray(data[0])
    else:
        data = stack.data
        mask = stack.mask
        first = data[0]
    first_mask = None if mask is None or mask is np.ma.nomask else np.asarray(mask[0])
    kwargs = _kwargs(metadata, name or _name(metadata, filename), 3, axis, contrast_limits(first, first_mask))
    layers = [(data, kwargs, "image")]
    mask_layer = _mask_layer(mask, kwargs)
    return layers if mask_layer is None else [*layers, mask_layer]


def layer_state(layer) -> dict:
    """Collect what :func:`image_from_layer` needs from a napari layer (read by attribute, napari not imported)."""
    return {
        "name": layer.name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "units": tuple(getattr(layer, "units", ()) or ()),
        "axis_labels": tuple(getattr(layer, "axis_labels", ()) or ()),
        "metadata": dict(layer.metadata),
    }


def image_from_layer(data, state: Mapping, mask=None) -> ImageArray:
    """Make an :class:`~stonerimg.ImageArray` of a layer's data and state (napari's ``layer_data`` meta dict).

    The metadata is the layer's (a copy), with the calibration of the last two
    axes taken from the layer's ``scale``, ``translate`` and ``units`` (so a
    layer moved or rescaled in napari saves as it is shown), the stack axis
    (when it is not the frame number) as ``calibration.z.*`` and the title from
    the layer's name.  ``mask`` (a Labels layer's data; non-zero = masked)
    becomes the image's mask.
    """
    pixels = np.asarray(data)
    if pixels.ndim not in (2, 3):
        raise ValueError(f"layer: a 2-D image or (n, y, x) stack is needed, not shape {pixels.shape}")
    metadata = Metadata(state.get("metadata") or {})
    metadata.pop("frame_metadata", None)
    scale = tuple(state.get("scale") or (1.0,) * pixels.ndim)
    translate = tuple(state.get("translate") or (0.0,) * pixels.ndim)
    units = tuple(state.get("units") or (None,) * pixels.ndim)
    if not len(scale) == len(translate) == len(units) == pixels.ndim:
        raise ValueError(
            f"layer: scale, translate and units need {pixels.ndim} values each, "
            f"not {len(scale)}, {len(translate)} and {len(units)}"
        )
    for axis, i in (("y", -2), ("x", -1)):
        metadata[f"calibration.{axis}.scale"] = float(scale[i])
        metadata[f"calibration.{axis}.offset"] = float(translate[i])
        metadata[f"calibration.{axis}.units"] = units_text(units[i])
    labels = tuple(state.get("axis_labels") or ())
    if pixels.ndim == 3 and not (labels[:1] == ("frame",) and scale[0] == 1 and translate[0] == 0):
        metadata["calibration.z.scale"] = float(scale[0])
        metadata["calibration.z.offset"] = float(translate[0])
        metadata["calibration.z.units"] = units_text(units[0])
    if state.get("name"):
        metadata["title"] = str(state["name"])
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != pixels.shape:
            raise ValueError(f"mask: the Labels layer has shape {mask.shape}, the image {pixels.shape}")
        mask = mask != 0
    return ImageArray(pixels, mask=np.ma.nomask if mask is None else mask, metadata=metadata)
