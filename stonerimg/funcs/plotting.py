"""Plotting: show an image with calibrated axes, histograms of its intensity.

matplotlib is imported inside the functions, never when :mod:`stonerimg` is
imported; :mod:`matplotlib.pyplot` only when no axes or figure is given.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..array import ImageArray
from ._binding import image_function

__all__ = ["hist", "imshow", "plot_histogram", "scalebar_corner"]


def _figure(figure):
    """Return a Figure for the ``figure=`` forms (pyplot only for None, "new", "current", a number or a label)."""
    from matplotlib.figure import Figure

    if isinstance(figure, Figure):
        return figure
    import matplotlib.pyplot as plt

    if figure is None or (isinstance(figure, str) and figure == "new"):
        return plt.figure()
    if isinstance(figure, str) and figure == "current":
        return plt.gcf()
    if isinstance(figure, bool) or not isinstance(figure, (numbers.Integral, str)):
        raise TypeError(f"figure: must be None, 'new', 'current', a number, a label or a Figure, not {figure!r}")
    return plt.figure(figure)


def _axes(figure, ax):
    """Return the axes to draw in: ``ax``, else the current axes of ``figure`` (a new figure for None)."""
    if ax is not None:
        if figure is not None and not isinstance(figure, (str, numbers.Integral)) and ax.figure is not figure:
            raise ValueError("ax: the axes given belong to another figure than figure=")
        return ax
    return _figure(figure).gca()


def _title(image: ImageArray, title) -> str:
    if title is None:
        return image.title
    if title is False:
        return ""
    return str(title)


def _values(image: ImageArray) -> np.ndarray:
    """Return the unmasked, finite pixel values as a 1-D array."""
    values = np.ma.compressed(image) if np.ma.getmask(image) is not np.ma.nomask else np.asarray(image.data).ravel()
    if values.dtype == bool:
        values = values.astype(np.uint8)
    if values.dtype.kind in "fc":
        values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("image: no unmasked, finite pixels to make a histogram of")
    return values


def _nice_length(span: float) -> float:
    """Return a round length (1, 2 or 5 times a power of ten) close to a fifth of ``span``."""
    target = abs(span) / 5
    if not target > 0 or not math.isfinite(target):
        raise ValueError("scalebar: the image has no physical width to draw a scale bar for")
    power = 10.0 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * power <= target:
            return step * power
    return power  # pragma: no cover - step 1 always fits


#: Where a scale bar may go, in order of preference, with the fraction of the image (x0, x1, y0, y1) it covers
#: (rows counted from the top).
_CORNERS = {
    "lower right": (0.55, 1.0, 0.8, 1.0),
    "lower left": (0.0, 0.45, 0.8, 1.0),
    "upper right": (0.55, 1.0, 0.0, 0.2),
    "upper left": (0.0, 0.45, 0.0, 0.2),
}


def _text_band(image: ImageArray):
    """Return the box ``(xmin, xmax, ymin, ymax)`` in pixels of burned-in text (``annotation.band``), or None."""
    rows, cols = image.shape[-2:]
    try:
        first, stop = (float(v) for v in image.metadata.get("annotation.band"))
    except (TypeError, ValueError):
        return None
    xmin, xmax, ymin, ymax = 0.0, float(cols), first, stop
    xmin, xmax, ymin, ymax = max(xmin, 0), min(xmax, cols), max(ymin, 0), min(ymax, rows)
    return (xmin, xmax, ymin, ymax) if xmin < xmax and ymin < ymax else None


def scalebar_corner(image: ImageArray) -> str:
    """Choose the corner for a scale bar: lower right unless burned-in text is there.

    Instrument images can carry a band of text burned into the pixels (the Kerr
    microscope's annotation band below the image); a loader that knows where it
    is records its rows as ``annotation.band`` ``(first_row, stop_row)``.
    The first corner of lower right, lower left, upper right, upper left whose
    region does not meet that box is chosen.
    """
    band = _text_band(image)
    if band is None:
        return "lower right"
    rows, cols = image.shape[-2:]
    for corner, (fx0, fx1, fy0, fy1) in _CORNERS.items():
        x0, x1, y0, y1 = fx0 * cols, fx1 * cols, fy0 * rows, fy1 * rows
        if band[1] <= x0 or band[0] >= x1 or band[3] <= y0 or band[2] >= y1:
            return corner
    return "lower right"


def _add_scalebar(ax, image: ImageArray, scalebar, row0_at_bottom: bool = False):
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    from ..units import format_quantity

    cal_x = image.calibration.x
    left, right, bottom, top = image.extent
    if scalebar is True:
        length = _nice_length(right - left)
    elif isinstance(scalebar, numbers.Real) and not isinstance(scalebar, bool) and scalebar > 0:
        length = float(scalebar)
    else:
        raise ValueError(f"scalebar: must be True, False or a positive length in {cal_x.units}, not {scalebar!r}")
    loc = scalebar_corner(image)
    if row0_at_bottom:  # origin="lower": the image's bottom rows are at the top of the axes
        loc = loc.replace("lower", "@").replace("upper", "lower").replace("@", "upper")
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        format_quantity(length, cal_x.units),
        loc,
        pad=0.5,
        sep=4,
        color="white",
        frameon=False,
        size_vertical=abs(top - bottom) / 100,
    )
    ax.add_artist(bar)
    return bar


@image_function
def imshow(
    image: ImageArray,
    figure=None,
    ax=None,
    title=None,
    cmap="gray",
    show_axis: bool = True,
    scalebar=False,
    *,
    colorbar=False,
    title_args: dict | None = None,
    **kwargs,
):
    """Show the image with calibrated axes and return the matplotlib ``AxesImage``.

    Parameters
    ----------
    image : ImageArray
        A 2-D image.
    figure : None, "new", "current", int, str or matplotlib.figure.Figure, optional
        Where to draw when ``ax`` is not given: None (or ``"new"``) makes a new
        :mod:`matplotlib.pyplot` figure, as Stoner does, so an image never lands
        on the previous plot; ``"current"`` uses pyplot's current figure, a
        number or label that pyplot figure; a ``Figure`` is used without
        pyplot.  Drawing goes into the figure's current axes.
    ax : matplotlib.axes.Axes, optional
        The axes to draw in (no pyplot is used).
    title : str, None or False, default None
        The axes title; None takes the image's ``title`` (its ``metadata["title"]``
        or the file's name, none if both are empty), False gives no title.
    cmap : str or matplotlib.colors.Colormap, default "gray"
        The colour map.
    show_axis : bool, default True
        Draw the axes frame, ticks and labels (Stoner's default was False).
    scalebar : bool or float, default False
        Draw a scale bar: True picks a round length near a fifth of the width, a
        number gives its length in the x units.  It goes in the lower right
        corner, or in the first other corner clear of burned-in text when the
        metadata says where that is (see :func:`scalebar_corner`); its label is
        written for people (``500 nm``, not ``0.5 µm``).
    colorbar : bool or str, default False
        Add a colour bar beside the axes; a string is its label (True labels it
        with ``calibration.intensity.units`` when the image has them).
    title_args : dict, optional
        Keyword arguments for :meth:`matplotlib.axes.Axes.set_title`.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (``vmin``, ``vmax``,
        ``interpolation``, ``origin``, ``extent``, ...).

    Returns
    -------
    matplotlib.image.AxesImage
        The image artist (its axes is ``.axes``); on an ImageFile the method
        returns this too.

    Notes
    -----
    The axes are in physical units: the ``extent`` is ``image.extent`` (pixel
    edges, from the calibration) and the labels read ``x (µm)`` and ``y (µm)``
    with the calibration's units (``px`` when uncalibrated).  Row 0 is at the
    top unless ``origin="lower"`` is given.  Masked pixels are passed as masked
    and drawn transparent (the colour map's "bad" colour); Stoner painted them
    red over the image instead.  Nothing is written into the image's metadata.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> im = ImageArray(np.eye(4), metadata={"title": "diagonal"}).set_calibration(0.5, "µm")
    >>> artist = im.imshow()
    >>> artist.get_extent(), artist.axes.get_xlabel(), artist.axes.get_title()
    ([-0.25, 1.75, 1.75, -0.25], 'x (µm)', 'diagonal')
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    if image.ndim != 2:
        raise ValueError(f"image: imshow needs a 2-D image, not one of shape {image.shape}")
    from matplotlib import rcParams

    axes = _axes(figure, ax)
    data = np.asarray(image.data)
    if np.ma.getmask(image) is not np.ma.nomask:  # masked pixels are drawn transparent
        data = np.ma.MaskedArray(data, mask=np.ma.getmask(image), copy=False)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if "extent" not in kwargs:
        left, right, bottom, top = image.extent
        if kwargs.get("origin", rcParams["image.origin"]) == "lower":
            bottom, top = top, bottom
        kwargs["extent"] = (left, right, bottom, top)
    artist = axes.imshow(data, cmap=cmap, **kwargs)
    cal_x, cal_y = image.calibration
    axes.set_xlabel(f"x ({cal_x.units})")
    axes.set_ylabel(f"y ({cal_y.units})")
    text = _title(image, title)
    if text:
        axes.set_title(text, **(title_args or {}))
    if scalebar is not False:
        _add_scalebar(axes, image, scalebar, kwargs.get("origin", rcParams["image.origin"]) == "lower")
    if colorbar is not False:
        label = colorbar if isinstance(colorbar, str) else str(image.metadata.get("calibration.intensity.units", ""))
        axes.figure.colorbar(artist, ax=axes, label=label)
    if not show_axis:
        axes.set_axis_off()
    return artist


@image_function
def hist(image: ImageArray, *args, ax=None, **kwargs):
    """Histogram the unmasked pixels with matplotlib's ``hist``.

    Parameters
    ----------
    image : ImageArray
        The image; masked pixels and NaN/inf values are left out.
    *args, **kwargs
        Passed to :func:`matplotlib.pyplot.hist` (``bins``, ``range``, ``density``, ...).
    ax : matplotlib.axes.Axes, optional
        The axes to draw in; by default pyplot's current axes.

    Returns
    -------
    tuple
        What ``hist`` returns: ``(counts, bin_edges, patches)``.

    Raises
    ------
    ValueError
        If no pixel is unmasked and finite.

    Notes
    -----
    Stoner's ``hist`` returned a ``Data`` object of bin centres and counts; use
    :func:`numpy.histogram` on ``np.ma.compressed(image)`` for numbers without a plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> im = ImageArray([[0.0, 1.0], [1.0, 9.0]], mask=[[False, False], [False, True]])
    >>> counts, edges, patches = im.hist(bins=2, range=(0, 2))
    >>> counts.tolist()
    [1.0, 2.0]
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    values = _values(image)
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.hist(values, *args, **kwargs)
    return ax.hist(values, *args, **kwargs)


@image_function
def plot_histogram(image: ImageArray, bins=256, *, figure=None):
    """Plot the histogram and the cumulative distribution of the unmasked pixels.

    Parameters
    ----------
    image : ImageArray
        The image; masked pixels and NaN/inf values are left out.
    bins : int, sequence or str, default 256
        Bins, as :func:`numpy.histogram` takes them.
    figure : matplotlib.figure.Figure, optional
        A figure to draw into (no pyplot is used); by default a new pyplot figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with two axes: the histogram (pixel counts, left scale) and,
        on a twin axis, the cumulative fraction of pixels at or below each
        intensity (0 to 1, right scale, red).

    Raises
    ------
    ValueError
        If no pixel is unmasked and finite.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> im = ImageArray(np.arange(100.0).reshape(10, 10))
    >>> fig = im.plot_histogram(bins=10)
    >>> len(fig.axes), float(fig.axes[1].lines[0].get_ydata()[-1])
    (2, 1.0)
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    values = _values(image)
    counts, edges = np.histogram(values, bins=bins)
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure()
    else:
        from matplotlib.figure import Figure

        if not isinstance(figure, Figure):
            raise TypeError(f"figure: must be a matplotlib Figure or None, not {type(figure).__name__}")
    ax = figure.add_subplot()
    ax.stairs(counts, edges, fill=True, color="0.4")
    ax.set_xlabel("intensity")
    ax.set_ylabel("pixels")
    cumulative = ax.twinx()
    cumulative.plot(edges, np.concatenate([[0.0], np.cumsum(counts) / max(int(counts.sum()), 1)]), "r-")
    cumulative.set_ylim(0, 1.02)
    cumulative.set_ylabel("cumulative fraction")
    if image.title:
        ax.set_title(image.title)
    return figure
