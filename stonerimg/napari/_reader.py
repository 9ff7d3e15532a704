"""The napari reader: any file a registered stonerimg format reads, as calibrated layers.

The manifest's reader claims every file name (``"*"``): the formats a
stonerimg installation reads are known only at run time (third-party format
plugins add theirs through the ``stonerimg.formats`` entry points), so
:func:`get_reader` asks the format registry, from the file's extension and
first bytes, and returns None (napari tries other readers) when no format is a
candidate.

Files that a candidate format can open lazily go through :func:`stonerimg.open`
(a stack becomes a dask array read one frame at a time as the slider moves);
others through :func:`stonerimg.load`.  Two STXM images of opposite
polarization opened together (``viewer.open([a, b], stack=True)`` or dropped
with Shift) also give their XMCD map; an STXM image opened into a viewer that
already shows its partner offers the map in a notification.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import formats
from ..errors import FormatError
from ._layers import LayerData, layers_from

__all__ = ["get_reader", "open_document", "read", "xmcd_map"]

logger = logging.getLogger(__name__)


def _paths(path) -> list[str] | None:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    if isinstance(path, Sequence) and path and all(isinstance(p, (str, os.PathLike)) for p in path):
        return [os.fspath(p) for p in path]
    return None


def _candidates(path: str) -> list[formats.Format]:
    """List the formats that may read ``path`` (none for a folder, a missing, empty or unreadable file)."""
    if not os.path.isfile(path):
        return []
    try:
        head = formats._head(Path(path))
    except (OSError, FormatError):
        return []
    return formats.candidates(path, head)


def get_reader(path) -> Callable[..., list[LayerData]] | None:
    """npe2 reader contribution: :func:`read` when stonerimg has a format for every path, else None."""
    paths = _paths(path)
    if paths is None or not all(_candidates(p) for p in paths):
        return None
    return read


def open_document(path):
    """Open ``path`` lazily when a candidate format can (:func:`stonerimg.open`), else load it."""
    from .. import disk

    path = os.fspath(path)
    if any(f.open is not None for f in _candidates(path)):
        try:
            return disk.open(path)
        except FormatError as err:
            logger.info("%s could not be opened lazily, loading it: %s", path, err)
    return formats.load(path)


def xmcd_map(documents) -> list[LayerData]:
    """Make the XMCD map layers of the two STXM images of opposite polarization and equal shape among ``documents``."""
    from ..formats.stxm import STXMImage

    stxm = [d for d in documents if isinstance(d, STXMImage) and d.polarization != 0]
    if len(stxm) != 2 or stxm[0].polarization == stxm[1].polarization or stxm[0].shape != stxm[1].shape:
        return []
    ratio = stxm[0] // stxm[1]
    ratio.title = "XMCD " + " // ".join(Path(d.filename).stem or d.title for d in stxm)
    return layers_from(ratio)


def read(path) -> list[LayerData]:
    """Read one file or a list of files into napari layer data (see the module notes)."""
    paths = _paths(path)
    if paths is None:
        raise TypeError(f"path: a file name or a list of file names, not {path!r}")
    documents = [open_document(p) for p in paths]
    layers = [layer for document in documents for layer in layers_from(document)]
    layers += xmcd_map(documents)
    _fit_viewer(layers, documents)
    return layers


def camera(viewer):
    """Return the viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def scale_bar(viewer):
    """Return the scale bar overlay (``viewer.canvas.overlays`` since napari 0.9, ``viewer.scale_bar`` before)."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    return overlays.scale_bar if overlays is not None else viewer.scale_bar


def _fit_viewer(layers: list[LayerData], documents) -> None:
    """Show the scale bar for calibrated layers; orient an empty viewer's y axis as the first image's calibration.

    napari's reader contributions return layer data only, so this acts on the
    viewer napari is opening the file in (none when the reader is called
    outside a viewer).  A first image whose y calibration decreases down the
    rows (an STXM image: row 0 is the highest stage position) turns the
    camera's vertical axis up, so the image looks as the instrument shows it
    and the cursor reads stage coordinates.
    """
    import napari

    viewer = napari.current_viewer()
    images = [kwargs for _, kwargs, kind in layers if kind == "image"]
    if viewer is None or not images:
        return
    if len(viewer.layers) == 0:
        camera(viewer).orientation2d = ("up" if images[0]["scale"][-2] < 0 else "down", "right")
    if any(kwargs.get("units") for kwargs in images):
        scale_bar(viewer).visible = True
    _offer_xmcd(viewer, documents)


def _offer_xmcd(viewer, documents) -> None:
    """Offer, in a notification, the XMCD map of a new STXM image with a partner already in the viewer."""
    from ..formats.stxm import STXMImage

    if len(documents) != 1 or not isinstance(documents[0], STXMImage) or documents[0].polarization == 0:
        return
    new = documents[0]
    for layer in viewer.layers:
        polarization = layer.metadata.get("polarization")
        if (
            layer.__class__.__name__ == "Image"
            and isinstance(polarization, numbers.Real)
            and polarization * new.polarization < 0
            and tuple(layer.data.shape) == tuple(new.shape)
        ):
            _notify_xmcd(viewer, layer, new)
            return


def _notify_xmcd(viewer, partner, new) -> None:
    from napari.layers import Layer
    from napari.utils.notifications import Notification, NotificationSeverity, notification_manager

    from ._layers import image_from_layer, layer_state
    from ._widgets import xmcd_images

    def add_map(*_):
        ratio = xmcd_images(image_from_layer(partner.data, layer_state(partner)), new.image)
        for data, kwargs, kind in layers_from(ratio):
            viewer.add_layer(Layer.create(data, kwargs, kind))

    message = f"{Path(new.filename).name} and layer {partner.name!r} are an XMCD pair (opposite polarization)"
    notification = Notification(message, severity=NotificationSeverity.INFO, actions=[("Show XMCD map", add_map)])
    notification_manager.dispatch(notification)
