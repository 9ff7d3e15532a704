"""Browse an image, the frames of a stack or the files of a folder: ``image.show()``.

The viewer is a matplotlib figure with ipywidgets controls (the ``notebook`` extra):
a frame or file slider, contrast by percentiles or absolute limits, a colour map,
calibrated axes, a cursor readout ``(x, y, value)`` in physical units, the
selectors of :func:`~stonerimg.notebook.select.select` and, for a folder, each
file's key facts.  Files of a folder are loaded only when shown.  Under
``%matplotlib widget`` (ipympl) the figure itself is interactive; with another
backend it is redrawn into an output area.  Without ipywidgets, ``show`` draws a
static figure of the first frame and says how to install the extra.
"""

from __future__ import annotations

import html
import logging
import warnings

import numpy as np

from .selection import KINDS, data_to_pixel

__all__ = ["Viewer", "show"]

log = logging.getLogger(__name__)

CMAPS = ("gray", "viridis", "magma", "inferno", "cividis", "RdBu_r", "twilight")
EXTRA = 'pip install "stonerimg[notebook]"'


def _key_facts(image, fmt: str | None) -> list[tuple[str, str]]:
    """``[(name, text)]``: the format's key facts (see :func:`stonerimg.formats.key_facts`), calibration, size."""
    from ..units import format_calibration
    from .repr import _fact_rows

    rows = _fact_rows(image.metadata, fmt or None)
    rows.append(("pixel size", format_calibration(image.calibration)))
    rows.append(("size", f"{image.shape[-1]} x {image.shape[-2]} px, {image.dtype}"))
    return rows


class _Frames:
    """What the viewer steps through: ``len()`` and ``[i]`` giving an ImageArray, plus a label per item."""

    def __init__(self, obj):
        from ..array import ImageArray
        from ..folder import ImageFolder
        from ..imagefile import ImageFile
        from ..stack import ImageStack

        self.kind = "frame"
        self.format = ""  # of the item fetched last
        if isinstance(obj, ImageFile):
            self.format = obj.format
            obj = obj.image
        if isinstance(obj, ImageArray):
            if obj.ndim == 2:
                self._get, self.count, self.labels = (lambda i: obj), 1, [obj.title or "image"]
            elif obj.ndim == 3:
                self._get, self.count = (lambda i: obj[i]), obj.shape[0]
                self.labels = [f"frame {i}" for i in range(self.count)]
            else:
                raise ValueError(f"image: show needs a 2-D image or a stack (n, y, x), not shape {obj.shape}")
        elif isinstance(obj, ImageStack):
            self._get, self.count = (lambda i: obj[i].image), len(obj)
            names = obj.filenames
            self.labels = [names[i] or f"frame {i}" for i in range(self.count)]
        elif isinstance(obj, ImageFolder):
            self.kind = "file"
            self._get, self.count, self.labels = (lambda i: obj[i]), len(obj), list(obj.names)
        else:
            raise TypeError(f"show needs an ImageArray, ImageFile, ImageStack or ImageFolder, not {type(obj).__name__}")
        if self.count == 0:
            raise ValueError(f"nothing to show: the {type(obj).__name__} is empty")

    def __getitem__(self, index: int):
        item = self._get(index)
        if hasattr(item, "image"):  # a folder's document: keep the name of its format for the key facts
            self.format, item = item.format, item.image
        return item


def _plane(image) -> np.ndarray:
    data = np.asarray(image.filled(np.nan) if image.dtype.kind == "f" else image.data, dtype=float)
    if image.dtype.kind != "f" and np.ma.getmask(image) is not np.ma.nomask:
        data = np.where(np.ma.getmaskarray(image), np.nan, data)
    return data


class Viewer:
    """An image browser: figure, controls and readout (made by :func:`show`).

    Attributes
    ----------
    figure, ax, artist
        The matplotlib figure, axes and ``AxesImage``.
    slider, contrast, limits, cmap, tool : ipywidgets
        Frame/file slider (None for a single image), contrast mode
        (``"percentile"`` or ``"absolute"``), the limits, the colour map and the
        selector kind (``"none"`` or a kind of :func:`~stonerimg.notebook.select.select`).
    readout, facts : ipywidgets
        The cursor readout and the key facts of what is shown.
    selection : Selection or None
        The selection made with the current selector.
    widget : ipywidgets.VBox
        Everything, as displayed.
    """

    def __init__(self, obj, *, cmap: str = "gray", percentiles=(0.5, 99.5), figsize=(6, 5)):
        import ipywidgets as w
        import matplotlib.pyplot as plt

        self._frames = _Frames(obj)
        self.index = 0
        self.image = self._frames[0]
        was_interactive = plt.isinteractive()
        plt.ioff()  # the figure is shown inside the viewer, not on its own
        try:
            self.figure, self.ax = plt.subplots(figsize=figsize)
        finally:
            if was_interactive:
                plt.ion()
        from ..funcs.plotting import imshow

        self.artist = imshow(self.image, ax=self.ax, cmap=cmap)
        self.selection = None
        count, kind = self._frames.count, self._frames.kind
        self.slider = (
            w.IntSlider(value=0, min=0, max=count - 1, description=kind, continuous_update=False) if count > 1 else None
        )
        self.contrast = w.ToggleButtons(options=["percentile", "absolute"], value="percentile", description="contrast")
        self.limits = w.FloatRangeSlider(
            value=tuple(percentiles), min=0.0, max=100.0, step=0.1, description="limits", continuous_update=False
        )
        self.cmap = w.Dropdown(options=sorted({cmap, *CMAPS}), value=cmap, description="colours")
        self.tool = w.Dropdown(options=["none", *KINDS], value="none", description="select")
        self.readout = w.Label(value="")
        self.label = w.Label(value=self._frames.labels[0])
        self.facts = w.HTML(value="")
        if isinstance(self.figure.canvas, w.DOMWidget):  # ipympl: the canvas is a widget
            self._output = None
            self.figure.canvas.header_visible = False
            plot = self.figure.canvas
        else:
            self._output = plot = w.Output()
        controls = [c for c in (self.slider, self.label) if c is not None]
        self.widget = w.VBox(
            [w.HBox(controls), w.HBox([self.contrast, self.limits]), w.HBox([self.cmap, self.tool]), plot]
            + [self.readout, self.facts]
        )
        if self.slider is not None:
            self.slider.observe(lambda change: self.go(change["new"]), names="value")
        self.contrast.observe(self._mode, names="value")
        self.limits.observe(lambda change: self._redraw(), names="value")
        self.cmap.observe(lambda change: self._redraw(), names="value")
        self.tool.observe(self._select, names="value")
        self.figure.canvas.mpl_connect("motion_notify_event", self._cursor)
        self.go(0)

    # -------------------------------------------------------------- stepping
    def go(self, index: int) -> None:
        """Show frame or file ``index`` (a folder loads it now)."""
        self.index = int(index)
        self.image = self._frames[self.index]
        self.artist.set_data(_plane(self.image))
        self.artist.set_extent(self.image.extent)
        cal = self.image.calibration
        self.ax.set_xlabel(f"x ({cal.x.units})")
        self.ax.set_ylabel(f"y ({cal.y.units})")
        self.ax.set_title(self._frames.labels[self.index])
        self.label.value = f"{self.index + 1} of {self._frames.count}: {self._frames.labels[self.index]}"
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in _key_facts(self.image, self._frames.format)
        )
        self.facts.value = f"<table>{rows}</table>"
        if self.contrast.value == "absolute":
            self._absolute_range()
        if self.tool.value != "none":
            self._select({"new": self.tool.value})
        self._redraw()

    def _finite(self) -> np.ndarray:
        data = _plane(self.image)
        data = data[np.isfinite(data)]
        return data if data.size else np.zeros(1)

    def _absolute_range(self) -> None:
        data = self._finite()
        low, high = float(data.min()), float(data.max())
        high = high if high > low else low + 1.0
        self.limits.min, self.limits.max = min(low, self.limits.min), max(high, self.limits.max)
        self.limits.min, self.limits.max = low, high
        self.limits.step = (high - low) / 1000

    def _mode(self, change) -> None:
        with self.limits.hold_trait_notifications():
            if change["new"] == "absolute":  # start from the limits the percentiles gave
                low, high = (float(v) for v in np.percentile(self._finite(), self.limits.value))
                self._absolute_range()
                self.limits.value = (max(low, self.limits.min), min(high, self.limits.max))
            else:
                self.limits.min, self.limits.max, self.limits.step = 0.0, 100.0, 0.1
                self.limits.value = (0.5, 99.5)
        self._redraw()

    def clim(self) -> tuple[float, float]:
        """Return the colour limits the contrast controls give for what is shown."""
        low, high = self.limits.value
        if self.contrast.value == "percentile":
            low, high = (float(v) for v in np.percentile(self._finite(), (low, high)))
        return (low, high if high > low else low + 1e-12)

    def _redraw(self) -> None:
        self.artist.set_clim(*self.clim())
        self.artist.set_cmap(self.cmap.value)
        from .select import _in_kernel

        if self._output is None or not _in_kernel():  # outside a kernel an output area shows nothing
            self.figure.canvas.draw_idle()
        else:
            from IPython.display import display

            with self._output:
                self._output.clear_output(wait=True)
                display(self.figure)

    # ---------------------------------------------------------- interaction
    def readout_at(self, xdata: float, ydata: float) -> str:
        """Return the readout text for the data coordinates ``(xdata, ydata)`` of the axes."""
        ((px, py),) = data_to_pixel(
            [(xdata, ydata)], self.artist.get_extent(), self.image.shape[-2:], self.artist.origin
        )
        col, row = int(np.floor(px + 0.5)), int(np.floor(py + 0.5))
        rows, cols = self.image.shape[-2:]
        if not (0 <= row < rows and 0 <= col < cols):
            return ""
        cal = self.image.calibration
        value = self.image[row, col]
        shown = "masked" if value is np.ma.masked else f"{value:.6g}"
        return (
            f"x = {cal.x.to_physical(col):.6g} {cal.x.units}, y = {cal.y.to_physical(row):.6g} {cal.y.units}"
            f" (pixel {col}, {row}): {shown}"
        )

    def _cursor(self, event) -> None:
        if event.inaxes is self.ax and event.xdata is not None:
            self.readout.value = self.readout_at(event.xdata, event.ydata)

    def _select(self, change) -> None:
        from .select import select

        if self.selection is not None:
            self.selection.disconnect()
            self.selection = None
        if change["new"] != "none":
            self.selection = select(self.image, change["new"], ax=self.ax)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def show(obj, **kwargs):
    """Browse an image, a stack's frames or a folder's files with widgets.

    Parameters
    ----------
    obj : ImageArray, ImageFile, ImageStack or ImageFolder
        What to browse (a 3-D ImageArray is stepped through frame by frame).
    **kwargs
        ``cmap``, ``percentiles`` (initial contrast) and ``figsize``.

    Returns
    -------
    Viewer or matplotlib.figure.Figure
        The viewer (it displays itself in a notebook); without ipywidgets, a
        static figure of the first frame (a warning names the extra to install).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> viewer = ImageArray(np.random.default_rng(0).random((3, 20, 30))).show()
    >>> viewer.go(2); viewer.index, viewer.slider.max
    (2, 2)
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        frames = _Frames(obj)
        message = f"show: ipywidgets is not installed, so this is a static figure of the first {frames.kind}; {EXTRA}"
        warnings.warn(message, stacklevel=2)
        import matplotlib.pyplot as plt

        from ..funcs.plotting import imshow

        figure, ax = plt.subplots()
        imshow(frames[0], ax=ax, title=frames.labels[0])
        return figure
    return Viewer(obj, **kwargs)
