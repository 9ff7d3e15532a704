"""The napari writer: an Image layer (and an optional Labels mask) saved through the format registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import formats
from ._layers import image_from_layer

__all__ = ["WRITER_EXTENSIONS", "write_layers"]

#: The extensions the manifest's writer offers (a test checks that the registry saves each).
WRITER_EXTENSIONS = (".tif", ".tiff", ".npy", ".hdf5", ".h5")


def write_layers(path: str, layer_data: list[tuple[Any, dict, str]]) -> list[str]:
    """Save one Image layer, masked by one optional Labels layer, to ``path``.

    The format comes from the extension (:func:`stonerimg.save`): TIFF and NPY
    keep the metadata, mask and dtype; HDF5 writes an NXstxm file.  The
    layer's metadata (its ``history`` included) is saved, with the calibration
    from the layer's ``scale``, ``translate`` and ``units`` and the title from
    its name.  The file is written atomically.

    Returns
    -------
    list of str
        The file written.
    """
    images = [(data, meta) for data, meta, kind in layer_data if kind == "image"]
    labels = [data for data, meta, kind in layer_data if kind == "labels"]
    others = sorted({kind for _, _, kind in layer_data} - {"image", "labels"})
    if len(images) != 1 or len(labels) > 1 or others:
        raise ValueError(
            "layer_data: stonerimg saves one Image layer and at most one Labels layer (its mask), "
            f"not {len(images)} image, {len(labels)} labels" + (f" and {', '.join(others)}" if others else "")
        )
    extension = Path(os.fspath(path)).suffix.lower()
    if extension not in WRITER_EXTENSIONS:
        raise ValueError(f"path: stonerimg's napari writer saves {', '.join(WRITER_EXTENSIONS)}, not {path!r}")
    data, meta = images[0]
    image = image_from_layer(data, meta, mask=labels[0] if labels else None)
    return [os.fspath(formats.save(image, path))]
