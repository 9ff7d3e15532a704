"""Docked widgets: drift correction, XMCD map, ``level_image`` and the radial profile of the FFT.

Each widget runs a stonerimg function on the image of a layer (calibration
from the layer's scale, translate and units, metadata from ``layer.metadata``,
see :func:`~stonerimg.napari._layers.image_from_layer`) and adds the result as a
new layer; the function records its call in the result's ``history`` as it
does outside napari.  The computations are plain functions of layers
(``*_layers``), so they are tested and scripted without a widget; the
``*_widget`` factories, which napari calls, wrap them with magicgui.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..array import ImageArray
from ..stack import ImageStack
from ._layers import LayerData, image_from_layer, layer_state, layers_from

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import napari.viewer

__all__ = [
    "drift_layers",
    "drift_widget",
    "fft_profile_layers",
    "fft_profile_widget",
    "level_layers",
    "level_widget",
    "xmcd_images",
    "xmcd_layers",
    "xmcd_widget",
]


def _image(layer) -> ImageArray:
    return image_from_layer(layer.data, layer_state(layer))


def _stack(layer) -> ImageStack:
    records = layer.metadata.get("frame_metadata")
    image = _image(layer)
    if not isinstance(records, list) or len(records) != image.shape[0]:
        records = None
    return ImageStack(image, frame_metadata=records)


def _named(layers: list[LayerData], name: str) -> list[LayerData]:
    """Layer data renamed ``name`` (and its mask ``name mask``)."""
    renamed = []
    for data, kwargs, kind in layers:
        kwargs = {**kwargs, "name": name if kind == "image" else f"{name} mask"}
        renamed.append((data, kwargs, kind))
    return renamed


# ------------------------------------------------------------------ computations
def drift_layers(
    layer, reference=None, *, method: str = "phase", upsample_factor: int = 50, ref_index: int = 0
) -> list[LayerData]:
    """Drift-correct a layer: a stack frame by frame against frame ``ref_index``, an image against ``reference``.

    Uses :meth:`stonerimg.ImageStack.correct_drifts` or
    :func:`stonerimg.funcs.correct_drift`; the drift found is in the result's
    metadata (``correct_drift``, per frame for a stack).
    """
    if layer.ndim == 3:
        stack = _stack(layer).correct_drifts(ref_index, upsample_factor=upsample_factor, method=method)
        return _named(layers_from(stack), f"{layer.name} drift corrected")
    if reference is None:
        raise ValueError("reference: drift-correcting a 2-D image needs a reference layer")
    corrected = _image(layer).correct_drift(_image(reference), upsample_factor=upsample_factor, method=method)
    return _named(layers_from(corrected), f"{layer.name} drift corrected")


def xmcd_images(first: ImageArray, second: ImageArray):
    """Compute the XMCD ratio ``(plus - minus) / (plus + minus)`` of two STXM images (``polarization`` in metadata)."""
    from ..formats.stxm import STXMImage

    return STXMImage(first) // STXMImage(second)


def xmcd_layers(first, second) -> list[LayerData]:
    """Make the XMCD map of two STXM layers of opposite polarization (see :meth:`STXMImage.__floordiv__`)."""
    ratio = xmcd_images(_image(first), _image(second))
    return _named(layers_from(ratio), f"XMCD {first.name} // {second.name}")


def level_layers(layer, *, poly_vert: int = 1, poly_horiz: int = 1, mode: str | None = None) -> list[LayerData]:
    """Level a layer with :func:`stonerimg.funcs.level_image` (a polynomial background subtracted).

    ``mode=None`` (the widget's default) keeps the levelled values as they are:
    a layer of counts is not clipped to the range of its float type.
    """
    levelled = _image(layer).level_image(poly_vert=poly_vert, poly_horiz=poly_horiz, mode=mode)
    return _named(layers_from(levelled), f"{layer.name} levelled")


def fft_profile_layers(layer, *, remove_dc: bool = True, window: str | None = "hann"):
    """Make the FFT magnitude of a layer's image a layer, and compute its radial profile.

    Returns
    -------
    layers : list of layer data
        The FFT magnitude (:func:`stonerimg.funcs.fft`, shifted, reciprocal calibration).
    profile : stonerimg.funcs.fourier.RadialProfile
        Its average over rings about the zero frequency (:func:`stonerimg.funcs.radial_profile`).
    """
    spectrum = _image(layer).fft(remove_dc=remove_dc, window=window)
    profile = spectrum.radial_profile(centre="origin")
    return _named(layers_from(spectrum), f"{layer.name} FFT"), profile


# ------------------------------------------------------------------ widgets
def _add(viewer, layers: list[LayerData]) -> None:
    from napari.layers import Layer

    for data, kwargs, kind in layers:
        viewer.add_layer(Layer.create(data, kwargs, kind))


def _image_layers(viewer) -> list:
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def _viewer(napari_viewer):
    """Return the viewer given, else the current one (napari passes none to a widget made by a function)."""
    if napari_viewer is not None:
        return napari_viewer
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        raise RuntimeError("stonerimg's widgets need a napari viewer; none is open")
    return viewer


def _layer_choice(viewer, label: str, extra=()):
    """Make a ComboBox of the viewer's Image layers (after the ``(label, value)`` pairs of ``extra``)."""
    from magicgui.widgets import ComboBox

    return ComboBox(label=label, choices=lambda _=None: [*extra, *((la.name, la) for la in _image_layers(viewer))])


def _panel(viewer, layer_choices: list, options: list, button_text: str, action):
    """Make a docked panel: the layer choices, the options, and a button that adds ``action()``'s layers.

    The layer choices follow the viewer's layers; ``panel.run()`` does what the button does.
    """
    from magicgui.widgets import Container, PushButton

    button = PushButton(text=button_text)
    panel = Container(widgets=[*layer_choices, *options, button])

    def run(*_):
        _add(viewer, action())

    button.changed.connect(run)
    _refresh_on_layer_change(viewer, layer_choices)
    panel.run = run
    return panel


def drift_widget(napari_viewer: napari.viewer.Viewer | None = None):
    """Drift correction: a stack against one of its frames, or an image against a reference layer."""
    viewer = _viewer(napari_viewer)
    from magicgui.widgets import ComboBox, SpinBox

    image = _layer_choice(viewer, "image")
    reference = _layer_choice(viewer, "reference", extra=[("(frame of the stack)", None)])
    method = ComboBox(label="method", choices=["phase", "scharr"], value="phase")
    ref_index = SpinBox(label="reference frame", value=0, min=0, max=100000)
    upsample = SpinBox(label="upsample factor", value=50, min=1, max=1000)

    def action():
        options = {"method": method.value, "upsample_factor": upsample.value, "ref_index": ref_index.value}
        return drift_layers(image.value, reference.value, **options)

    return _panel(viewer, [image, reference], [method, ref_index, upsample], "Correct drift", action)


def xmcd_widget(napari_viewer: napari.viewer.Viewer | None = None):
    """XMCD map ``(plus - minus) / (plus + minus)`` of two STXM layers of opposite polarization."""
    viewer = _viewer(napari_viewer)
    first, second = _layer_choice(viewer, "first"), _layer_choice(viewer, "second")
    images = _image_layers(viewer)
    if len(images) > 1:
        second.value = images[1]
    return _panel(viewer, [first, second], [], "XMCD map", lambda: xmcd_layers(first.value, second.value))


def level_widget(napari_viewer: napari.viewer.Viewer | None = None):
    """Subtract a polynomial background (:func:`stonerimg.funcs.level_image`)."""
    viewer = _viewer(napari_viewer)
    from magicgui.widgets import ComboBox, SpinBox

    image = _layer_choice(viewer, "image")
    poly_vert = SpinBox(label="poly_vert", value=1, min=0, max=10)
    poly_horiz = SpinBox(label="poly_horiz", value=1, min=0, max=10)
    mode = ComboBox(label="mode", choices=[("keep values", None), ("clip", "clip"), ("norm", "norm")], value=None)

    def action():
        return level_layers(image.value, poly_vert=poly_vert.value, poly_horiz=poly_horiz.value, mode=mode.value)

    return _panel(viewer, [image], [poly_vert, poly_horiz, mode], "Level", action)


def fft_profile_widget(napari_viewer: napari.viewer.Viewer | None = None):
    """FFT of a layer as a new layer, and the radial profile of it plotted in the widget."""
    viewer = _viewer(napari_viewer)
    from magicgui.widgets import CheckBox, ComboBox
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    image = _layer_choice(viewer, "image")
    remove_dc = CheckBox(label="remove DC", value=True)
    window = ComboBox(label="window", choices=[("hann", "hann"), ("none", None)], value="hann")
    figure = Figure(figsize=(4, 3), layout="constrained")
    axes = figure.add_subplot()
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(220)

    def action():
        layers, profile = fft_profile_layers(image.value, remove_dc=remove_dc.value, window=window.value)
        axes.clear()
        axes.semilogy(profile.r, profile.mean)
        axes.set_xlabel(f"spatial frequency ({profile.r_units})" if profile.r_units else "spatial frequency")
        axes.set_ylabel("mean |FFT|")
        axes.set_title(image.value.name, fontsize="small")
        canvas.draw_idle()
        panel.profile = profile
        return layers

    panel = _panel(viewer, [image], [remove_dc, window], "FFT and radial profile", action)
    panel.native.layout().addWidget(canvas)
    panel.axes = axes
    panel.canvas = canvas
    return panel


def _refresh_on_layer_change(viewer, combos) -> None:
    """Keep the layer choices of ``combos`` up to date as layers are added and removed."""

    def refresh(*_):
        for combo in combos:
            combo.reset_choices()

    viewer.layers.events.inserted.connect(refresh)
    viewer.layers.events.removed.connect(refresh)
