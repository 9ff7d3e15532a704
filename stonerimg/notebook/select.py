"""Pick a box, line, polygon, ellipse or points on an image with the mouse (matplotlib widgets).

:func:`select` shows the image with the selector and returns a
:class:`~stonerimg.notebook.selection.Selection` at once, so a notebook kernel is
never blocked: draw on the figure, then use the selection in the next cell.  The
same selectors work in a script window (Qt, Tk); :func:`wait_for_selection` is
Stoner's blocking form for scripts.

Keys (the figure must have the keyboard focus): enter finishes the selection,
escape cancels it; where switching is allowed (``mask.select()``) ``p`` gives a
polygon, ``c`` a circle/ellipse and ``r`` a rectangle.
"""

from __future__ import annotations

import sys
import time

from .selection import KINDS, Selection, data_to_pixel

__all__ = ["select", "wait_for_selection"]

_SWITCH = {"p": "polygon", "c": "ellipse", "r": "box"}
_STYLE = {"color": "tab:orange", "linewidth": 1.5}
_NON_INTERACTIVE = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def _as_image(image):
    from ..funcs._binding import as_image

    return as_image(image)


def _shown(image, ax):
    """Return the ``AxesImage`` the selector works on: the last image on ``ax``, or ``image`` drawn on new axes."""
    if ax is not None and ax.images:
        return ax.images[-1]
    plane = image if image.ndim == 2 else image.reshape(-1, *image.shape[-2:])[0]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    from ..funcs.plotting import imshow

    return imshow(plane, ax=ax)


class _Tool:
    """One selector on an axes: makes the matplotlib widget and reads its geometry in pixels."""

    def __init__(self, kind: str, ax, to_pixel):
        self.kind, self.ax, self.to_pixel = kind, ax, to_pixel
        self.points: list[tuple[float, float]] = []
        self.drawn = False
        self.widget = None
        self.artist = None
        self.cids: list[int] = []
        if kind == "box":
            from matplotlib.widgets import RectangleSelector

            self.widget = RectangleSelector(ax, self._on_select, interactive=True, props={**_STYLE, "fill": False})
        elif kind == "ellipse":
            from matplotlib.widgets import EllipseSelector

            self.widget = EllipseSelector(ax, self._on_select, interactive=True, props={**_STYLE, "fill": False})
        elif kind == "polygon":
            from matplotlib.widgets import PolygonSelector

            self.widget = PolygonSelector(ax, self._on_select, props=_STYLE)
        else:  # line and point: plain mouse callbacks on the canvas
            canvas = ax.figure.canvas
            self.cids = [
                canvas.mpl_connect("button_press_event", self._press),
                canvas.mpl_connect("motion_notify_event", self._motion),
                canvas.mpl_connect("button_release_event", self._release),
            ]
            marker = {"marker": "+", "markersize": 10, "linestyle": "none"} if kind == "point" else {}
            (self.artist,) = ax.plot([], [], **{**_STYLE, **marker})
            self.pressed = False

    # ---------------------------------------------------------- line and point
    def _ignore(self, event) -> bool:
        return event.inaxes is not self.ax or event.button != 1 or self.ax.get_navigate_mode() is not None

    def _redraw(self):
        xs, ys = zip(*self.points, strict=True) if self.points else ((), ())
        self.artist.set_data(xs, ys)
        self.ax.figure.canvas.draw_idle()

    def _press(self, event):
        if self._ignore(event) or event.xdata is None:
            return
        if self.kind == "point":
            self.points.append((event.xdata, event.ydata))
            self.drawn = True
        else:
            self.points = [(event.xdata, event.ydata), (event.xdata, event.ydata)]
            self.pressed, self.drawn = True, False
        self._redraw()

    def _motion(self, event):
        if self.kind == "line" and self.pressed and event.inaxes is self.ax and event.xdata is not None:
            self.points[1] = (event.xdata, event.ydata)
            self._redraw()

    def _release(self, event):
        if self.kind == "line" and self.pressed:
            self.pressed = False
            if event.inaxes is self.ax and event.xdata is not None:
                self.points[1] = (event.xdata, event.ydata)
            self.drawn = self.points[0] != self.points[1]
            self._redraw()

    # ---------------------------------------------------------------- widgets
    def _on_select(self, *args):
        self.drawn = True

    def geometry(self):
        """Return the defining points in pixel ``(x, y)``, or None while nothing is drawn."""
        if not self.drawn:
            return None
        if self.kind in ("box", "ellipse"):
            xmin, xmax, ymin, ymax = self.widget.extents
            points = [(xmin, ymin), (xmax, ymax)]
        elif self.kind == "polygon":
            points = list(self.widget.verts)
        else:
            points = self.points
        return self.to_pixel(points) if points else None

    def clear(self):
        """Forget the geometry (escape)."""
        self.drawn = False
        self.points = []
        if self.widget is not None:
            self.widget.clear()
        else:
            self._redraw()

    def remove(self):
        """Disconnect and hide this tool (when switching to another kind)."""
        if self.widget is not None:
            self.widget.clear()
            self.widget.set_active(False)
            self.widget.set_visible(False)
        for cid in self.cids:
            self.ax.figure.canvas.mpl_disconnect(cid)
        if self.artist is not None:
            self.artist.remove()
        self.ax.figure.canvas.draw_idle()


def select(image, kind: str = "box", *, ax=None, switch_keys: bool = False) -> Selection:
    """Show the image with a selector for ``kind`` and return the :class:`Selection` at once.

    Parameters
    ----------
    image : ImageArray, ImageFile or array_like
        The image (a stack shows its first frame).
    kind : {"box", "line", "polygon", "ellipse", "point"}, default "box"
        What to pick: drag a box, a line or an ellipse's bounding box; click the
        corners of a polygon (click the first again to close it); click points.
    ax : matplotlib.axes.Axes, optional
        Listen on these axes; the image shown last on them is used (it is drawn
        there if they hold none).  By default a new pyplot figure is made, which
        ``%matplotlib widget`` (ipympl) makes interactive in a notebook.
    switch_keys : bool, default False
        Let ``p``, ``c`` and ``r`` switch to a polygon, an ellipse or a box.

    Returns
    -------
    Selection
        Its geometry follows the selector live, in the image's pixel ``(x, y)``
        whatever the axes' calibration; ``done`` turns True on enter, ``cancelled``
        on escape.  Keep a reference to it: the selector lives as long as it does.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> sel = ImageArray(np.zeros((100, 100))).select("box")
    >>> sel.kind, sel.is_empty
    ('box', True)
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    image = _as_image(image)
    if image.ndim < 2 or 0 in image.shape[-2:]:
        raise ValueError(f"image: cannot select on an image of shape {image.shape}")
    artist = _shown(image, ax)
    ax = artist.axes
    shape = image.shape[-2:]

    def to_pixel(points):
        return data_to_pixel(points, artist.get_extent(), shape, artist.origin)

    sel = Selection(kind, shape, ax=ax)
    state = {"tool": _Tool(kind, ax, to_pixel)}

    def on_key(event):
        key = (event.key or "").lower()
        if event.inaxes is not None and event.inaxes is not ax:
            return
        if key == "enter":
            sel.done = not sel.is_empty
        elif key == "escape":
            state["tool"].clear()
            sel.cancelled, sel.done = True, False
        elif switch_keys and key in _SWITCH and _SWITCH[key] != sel.kind:
            state["tool"].remove()
            sel.kind = _SWITCH[key]
            state["tool"] = _Tool(sel.kind, ax, to_pixel)

    sel._source = lambda: state["tool"].geometry()
    sel._keep.append(_Connection(ax.figure.canvas, ax.figure.canvas.mpl_connect("key_press_event", on_key), state))
    return sel


class _Connection:
    """What a selection keeps alive: the key callback and the current tool; ``remove`` undoes both."""

    def __init__(self, canvas, cid: int, state: dict):
        self.canvas, self.cid, self.state = canvas, cid, state

    def remove(self) -> None:
        self.canvas.mpl_disconnect(self.cid)
        self.state["tool"].remove()


def _in_kernel() -> bool:
    """Tell whether this runs inside a Jupyter kernel (a notebook, JupyterLab, VS Code)."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and hasattr(ipython, "kernel")


def _cannot_wait() -> str | None:
    """Say why waiting for the mouse cannot work here, or None when it can."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if _in_kernel():
        return "would block the notebook's kernel that delivers the mouse events"
    if backend in _NON_INTERACTIVE or backend.startswith("module://matplotlib_inline") or "ipympl" in backend:
        return f"cannot happen with the non-interactive matplotlib backend {backend!r}"
    return None


def wait_for_selection(
    image, kind: str = "box", *, switch_keys: bool = False, timeout: float | None = None, what: str = "this call"
) -> Selection:
    """Show a selector and wait until enter (or escape, or the window is closed): Stoner's blocking form.

    Parameters
    ----------
    image : ImageArray or ImageFile
        The image.
    kind : str, default "box"
        As for :func:`select`.
    switch_keys : bool, default False
        As for :func:`select`.
    timeout : float, optional
        Seconds to wait at most.
    what : str
        The call named in the error message.

    Returns
    -------
    Selection
        Finished (``done``) or ``cancelled``.

    Raises
    ------
    RuntimeError
        In a notebook or with a non-interactive backend (the message says to use
        ``image.select(kind)`` instead).
    TimeoutError
        If ``timeout`` passes first.
    """
    reason = _cannot_wait()
    if reason is not None:
        raise RuntimeError(
            f"{what} waits for a selection with the mouse, which {reason}. "
            f"Use sel = image.select({kind!r}) (it returns at once), draw on the figure, "
            "then use sel in the next cell: image.crop(sel), image.profile_line(sel), image.mask = sel"
        )
    import matplotlib.pyplot as plt

    sel = select(image, kind, switch_keys=switch_keys)
    figure = sel.ax.figure
    plt.show(block=False)
    start = time.monotonic()
    while not (sel.done or sel.cancelled):
        if not plt.fignum_exists(figure.number):
            sel.cancelled = True
            break
        if timeout is not None and time.monotonic() - start > timeout:
            plt.close(figure)
            raise TimeoutError(f"{what}: no selection finished with enter within {timeout} s")
        figure.canvas.start_event_loop(0.05)
    plt.close(figure)
    return sel


def by_hand(image, kind: str, what: str) -> Selection:
    """Wait for a finished selection for a function called without its geometry (``crop()``, ``profile_line()``).

    Raises
    ------
    RuntimeError
        Where nothing can wait (see :func:`wait_for_selection`).
    ValueError
        If the selection is cancelled (escape, or the window closed).
    """
    sel = wait_for_selection(image, kind, what=what)
    if not sel.done:
        raise ValueError(f"{what}: the selection was cancelled, nothing was done")
    return sel
