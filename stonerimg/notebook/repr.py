"""HTML and PNG reprs: what a notebook shows for an image, a stack, a folder, metadata or a profile.

Built from small functions, one per section, with one static CSS block (as xarray
does): a thumbnail that keeps the image's physical aspect ratio whatever the
table beside it, the format's key facts (declared on each
:class:`~stonerimg.formats.Format`), the calibration written for people, the whole
metadata as a collapsible tree and the processing history.  Every value is
escaped; a repr never raises (a part that fails is replaced by a note saying why).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import logging
import numbers

import numpy as np

from ..units import format_calibration, format_number, format_quantity, format_value, length_in

__all__ = [
    "display_aspect",
    "display_size",
    "folder_html",
    "image_html",
    "image_png",
    "metadata_html",
    "profile_html",
    "profile_png",
    "stack_html",
    "stack_png",
    "thumbnail",
]

logger = logging.getLogger(__name__)

#: Longest side of a thumbnail on the page (CSS pixels) and of the PNG behind it (pixels).
THUMB_CSS = 192
THUMB_PNG = 256
#: Frames shown in a stack's strip, and the strip's frame height (CSS pixels).
STRIP_FRAMES = 8
STRIP_CSS = 96
#: Files listed in a folder's table, and metadata items in a tree, before "... more".
FOLDER_ROWS = 100
TREE_ITEMS = 5000

_CSS = """
<style>
.si-repr{font-family:var(--jp-content-font-family,system-ui,sans-serif);font-size:13px;line-height:1.35;
  color:var(--jp-content-font-color1,#222);max-width:100%}
.si-repr .si-head{font-weight:600;margin:0 0 .35em 0}
.si-repr .si-head .si-sub{font-weight:400;color:var(--jp-content-font-color2,#666)}
.si-repr .si-body{display:flex;flex-wrap:wrap;align-items:flex-start;gap:1em}
.si-repr img.si-thumb{flex:none;max-width:none;max-height:none;object-fit:fill;image-rendering:pixelated;
  border:none;outline:1px solid var(--jp-border-color2,#ccc);margin:1px;padding:0;box-sizing:content-box}
.si-repr table{border-collapse:collapse;margin:0;font-size:inherit}
.si-repr th,.si-repr td{text-align:left;vertical-align:top;padding:1px 8px 1px 0;border:none;background:none}
.si-repr th{font-weight:600;white-space:nowrap;color:var(--jp-content-font-color2,#555)}
.si-repr td{word-break:break-word}
.si-repr details{margin:.25em 0 .25em 0}
.si-repr details details{margin-left:1em}
.si-repr summary{cursor:pointer;color:var(--jp-content-font-color2,#555)}
.si-repr .si-strip{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-end}
.si-repr figure{margin:0;text-align:center}
.si-repr figcaption{font-size:11px;color:var(--jp-content-font-color2,#666)}
.si-repr .si-note{color:var(--jp-content-font-color2,#888);font-style:italic}
.si-repr table.si-files td,.si-repr table.si-files th{padding-right:12px;border-bottom:1px solid #eee}
</style>
"""


# ---------------------------------------------------------------- safety
def _never_raises(fallback):
    """Make a repr function return ``fallback(obj, error)`` instead of raising."""

    def wrap(func):
        @functools.wraps(func)
        def safe(obj, *args, **kwargs):
            try:
                return func(obj, *args, **kwargs)
            except Exception as err:  # a repr must never break a notebook cell
                logger.debug("repr of %s failed", type(obj).__name__, exc_info=True)
                return fallback(obj, err)

        return safe

    return wrap


def _text_fallback(obj, err) -> str:
    try:
        text = repr(obj)
    except Exception:
        text = f"<{type(obj).__name__}>"
    note = f"(no rich view: {type(err).__name__}: {err})"
    return f"<pre>{html.escape(text)}</pre><div class='si-note'>{html.escape(note)}</div>"


def _no_png(obj, err):
    return None  # IPython then shows another repr


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _rows(rows) -> str:
    return "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)


# ---------------------------------------------------------------- geometry
def _calibration(metadata):
    """Return the (x, y) :class:`~stonerimg.Calibration` held in ``metadata``."""
    from ..array import AxisCalibration, Calibration

    def axis(name):
        def number(key, default):
            value = metadata.get(f"calibration.{name}.{key}", default)
            return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else default

        units = metadata.get(f"calibration.{name}.units", "px")
        return AxisCalibration(number("scale", 1.0), number("offset", 0.0), str(units))

    return Calibration(axis("x"), axis("y"))


def display_aspect(shape, calibration) -> float:
    """Width over height of an image as it should look: physical when both axes share a unit, else in pixels.

    Parameters
    ----------
    shape : tuple of int
        ``(..., rows, cols)``.
    calibration : Calibration
        The image's ``(x, y)`` calibration.

    Examples
    --------
    >>> from stonerimg import AxisCalibration, Calibration
    >>> cal = Calibration(AxisCalibration(2.0, 0, "nm"), AxisCalibration(-0.001, 0, "µm"))
    >>> display_aspect((10, 10), cal)
    2.0
    """
    rows, cols = shape[-2], shape[-1]
    if rows <= 0 or cols <= 0:
        return 1.0
    x, y = calibration
    sx = abs(x.scale)
    sy = length_in(abs(y.scale), y.units, x.units) if y.units != x.units else abs(y.scale)
    if sy is None or not (np.isfinite(sx) and np.isfinite(sy)) or sx <= 0 or sy <= 0:
        sx = sy = 1.0
    return (cols * sx) / (rows * sy)


def display_size(aspect: float, longest: int = THUMB_CSS) -> tuple[int, int]:
    """``(width, height)`` in whole pixels with the longest side ``longest`` and the given aspect ratio."""
    if aspect >= 1:
        return longest, max(1, round(longest / aspect))
    return max(1, round(longest * aspect)), longest


# ---------------------------------------------------------------- pixels
def _plane(data) -> np.ndarray:
    """Return the 2-D plane (or colour image) a thumbnail shows: the first plane of a stack."""
    data = np.ma.asarray(getattr(data, "image", data))
    while data.ndim > 2 and not (data.ndim == 3 and data.shape[-1] in (3, 4)):
        data = data[0]
    if data.ndim < 2:
        data = data.reshape(1, -1)
    return data


def thumbnail(data, aspect: float, longest: int = THUMB_PNG) -> np.ndarray:
    """Make an 8-bit thumbnail of ``data`` at the given display aspect, scaled between the 0.5 and 99.5 percentiles.

    Parameters
    ----------
    data : array_like
        A 2-D image (a 3-D stack shows its first plane; ``(y, x, 3|4)`` is colour).
    aspect : float
        Width over height of the result (see :func:`display_aspect`).
    longest : int
        Longest side of the result in pixels.

    Returns
    -------
    numpy.ndarray
        ``uint8``, 2-D (grey) or 3-D (colour); masked and non-finite pixels black.
    """
    from PIL import Image

    plane = _plane(data)
    if plane.size == 0:
        return np.zeros((1, 1), dtype=np.uint8)
    step = max(1, max(plane.shape[:2]) // (2 * longest))
    small = plane[::step, ::step]
    colour = small.ndim == 3
    values = np.ma.asarray(small, dtype=float)
    finite = values.compressed()
    finite = finite[np.isfinite(finite)]
    if colour and small.dtype == np.uint8:
        scaled = np.ma.getdata(small).astype(np.uint8)
    else:
        low, high = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
        span = (high - low) or 1.0
        filled = np.nan_to_num(values.filled(low), nan=low, posinf=high, neginf=low)
        scaled = (np.clip((filled - low) / span, 0, 1) * 255).astype(np.uint8)
        if np.ma.getmask(values) is not np.ma.nomask:
            scaled[np.ma.getmaskarray(values) if not colour else np.ma.getmaskarray(values).any(-1)] = 0
    width, height = display_size(aspect, longest)
    picture = Image.fromarray(scaled)
    rows, cols = scaled.shape[:2]
    resample = Image.Resampling.NEAREST if width >= cols and height >= rows else Image.Resampling.BOX
    return np.asarray(picture.resize((width, height), resample=resample))


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _img(data, aspect: float, longest: int, title: str = "") -> str:
    """Make an ``<img>`` of fixed CSS size (so no table or flex box can stretch it); a note if the pixels fail."""
    try:
        png = base64.b64encode(_png(thumbnail(data, aspect, THUMB_PNG if longest > 128 else 2 * longest)))
    except Exception as err:
        logger.debug("thumbnail failed", exc_info=True)
        return f"<div class='si-note'>{_esc(f'no preview: {type(err).__name__}: {err}')}</div>"
    width, height = display_size(aspect, longest)
    return (
        f"<img class='si-thumb' alt='{_esc(title or 'image')}' width='{width}' height='{height}' "
        f"style='width:{width}px;height:{height}px' src='data:image/png;base64,{png.decode('ascii')}'/>"
    )


# ---------------------------------------------------------------- sections
def _shape_text(shape) -> str:
    rows, cols = shape[-2], shape[-1]
    extra = f" × {' × '.join(map(str, shape[:-2]))} planes" if len(shape) > 2 else ""
    return f"{cols} × {rows} px (x × y){extra}, array shape {tuple(shape)}"


def _field_of_view(shape, calibration) -> str | None:
    x, y = calibration
    if x.units in ("", "px") and y.units in ("", "px"):
        return None
    width = format_quantity(abs(x.scale) * shape[-1], x.units)
    height = format_quantity(abs(y.scale) * shape[-2], y.units)
    return f"{width} × {height}"


def _fact_rows(metadata, fmt: str | None) -> list[tuple[str, str]]:
    from ..formats import key_facts

    try:
        facts = key_facts(metadata, fmt)
    except Exception as err:
        return [("key facts", f"unavailable ({type(err).__name__}: {err})")]
    return [(label, format_value(value, units)) for label, value, units in facts]


def _summary_rows(shape, dtype, metadata, mask=None, filename="", fmt=None) -> list[tuple[str, str]]:
    calibration = _calibration(metadata)
    rows = [("size", _shape_text(shape)), ("dtype", str(dtype))]
    if filename:
        rows.append(("file", filename))
    if fmt:
        rows.append(("format", fmt))
    rows.append(("pixel size", format_calibration(calibration)))
    fov = _field_of_view(shape, calibration)
    if fov:
        rows.append(("field of view", fov))
    rows += _fact_rows(metadata, fmt)
    if mask is not None and mask is not np.ma.nomask and np.size(mask) > 1:
        masked = int(np.count_nonzero(mask))
        if masked:
            rows.append(("masked", f"{masked} of {np.size(mask)} pixels"))
    return rows


def _tree_html(node, depth: int = 0) -> str:
    leaves, branches = [], []
    for key in sorted(node, key=lambda k: (isinstance(node[k], dict) and bool(node[k]), str(k).lower())):
        value = node[key]
        if isinstance(value, dict) and value:
            branches.append((key, value))
        else:
            leaves.append((key if key != "" else "(value)", value))
    parts = []
    if leaves:
        parts.append(
            "<table>"
            + "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(format_value(v, limit=160))}</td></tr>" for k, v in leaves)
            + "</table>"
        )
    for key, value in branches:
        parts.append(
            f"<details><summary>{_esc(key)} <span class='si-sub'>({_count(value)})</span></summary>"
            f"{_tree_html(value, depth + 1)}</details>"
        )
    return "".join(parts)


def _count(node) -> int:
    return sum(_count(v) if isinstance(v, dict) and v else 1 for v in node.values())


def _metadata_section(metadata, label: str = "metadata") -> str:
    from ..metadata import Metadata

    items = {k: v for k, v in metadata.items() if k != "history"}
    shown = dict(list(items.items())[:TREE_ITEMS])
    more = len(items) - len(shown)
    tree = Metadata(shown).tree()
    note = f"<div class='si-note'>… {more} more items</div>" if more > 0 else ""
    return (
        f"<details class='si-metadata'><summary>{_esc(label)} ({len(items)} items)</summary>"
        f"{_tree_html(tree)}{note}</details>"
    )


def _history_section(metadata) -> str:
    history = metadata.get("history")
    if not history:
        return ""
    steps = history if isinstance(history, (list, tuple)) else [history]
    items = "".join(f"<li><code>{_esc(format_value(step, limit=300))}</code></li>" for step in steps)
    return f"<details class='si-history'><summary>history ({len(steps)} steps)</summary><ol>{items}</ol></details>"


def _wrap(head: str, body: str) -> str:
    return f"{_CSS}<div class='si-repr'><div class='si-head'>{head}</div>{body}</div>"


def _head(kind: str, title: str) -> str:
    return f"{_esc(kind)} <span class='si-sub'>{_esc(title)}</span>" if title else _esc(kind)


# ---------------------------------------------------------------- images
def _as_image(obj):
    """Return the ImageArray of an ImageArray or ImageFile, with the file's format name."""
    image = getattr(obj, "image", obj)
    return image, (getattr(obj, "format", "") or None)


@_never_raises(_text_fallback)
def image_html(obj) -> str:
    """HTML for an :class:`~stonerimg.ImageArray` or :class:`~stonerimg.ImageFile`."""
    image, fmt = _as_image(obj)
    metadata = image.metadata
    aspect = display_aspect(image.shape, _calibration(metadata)) if image.ndim >= 2 else 1.0
    rows = _summary_rows(image.shape, image.dtype, metadata, np.ma.getmask(image), image.filename, fmt)
    planes = image.ndim == 3 and image.shape[-1] not in (3, 4)
    if planes:  # a 3-D image (a MAXYMUS scan, a DM spectrum image): a strip of its planes above the table
        frames = "".join(
            f"<figure>{_img(image[i], aspect, STRIP_CSS, f'plane {i}')}<figcaption>#{i}</figcaption></figure>"
            for i in _strip_indices(image.shape[0])
        )
        body = f"<div class='si-strip'>{frames}</div><table class='si-facts'>{_rows(rows)}</table>"
    else:
        thumb = _img(image, aspect, THUMB_CSS, image.title)
        body = f"<div class='si-body'>{thumb}<table class='si-facts'>{_rows(rows)}</table></div>"
    body += _metadata_section(metadata) + _history_section(metadata)
    return _wrap(_head(type(obj).__name__, image.title), body)


@_never_raises(_no_png)
def image_png(obj) -> bytes | None:
    """Make a PNG thumbnail (at most 256 pixels on a side) at the image's physical aspect ratio."""
    image, _ = _as_image(obj)
    return _png(thumbnail(image, display_aspect(image.shape, _calibration(image.metadata))))


# ---------------------------------------------------------------- stacks
def _strip_indices(n: int, count: int = STRIP_FRAMES) -> list[int]:
    if n <= count:
        return list(range(n))
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


@_never_raises(_text_fallback)
def stack_html(stack) -> str:
    """HTML for an :class:`~stonerimg.ImageStack`: a strip of frames, its length, shared metadata."""
    n = len(stack)
    shape = tuple(stack.shape)
    metadata = stack.metadata
    aspect = display_aspect(shape, _calibration(metadata))
    frames = []
    for index in _strip_indices(n):
        frames.append(
            f"<figure>{_img(stack[index], aspect, STRIP_CSS, f'frame {index}')}"
            f"<figcaption>#{index}</figcaption></figure>"
        )
    shown = len(frames)
    strip = f"<div class='si-strip'>{''.join(frames)}</div>" if frames else "<div class='si-note'>no frames</div>"
    rows = [("frames", f"{n}" + (f" ({shown} shown)" if shown < n else ""))]
    rows += _summary_rows(shape[1:], stack.dtype, metadata)
    body = f"{strip}<table class='si-facts'>{_rows(rows)}</table>"
    body += _metadata_section(metadata, "shared metadata") + _history_section(metadata)
    return _wrap(_head(type(stack).__name__, f"{n} frames of {shape[-1]} × {shape[-2]} px"), body)


@_never_raises(_no_png)
def stack_png(stack) -> bytes | None:
    """Make a PNG strip of up to :data:`STRIP_FRAMES` frames side by side, 2 pixels apart."""
    if len(stack) == 0:
        return None
    aspect = display_aspect(tuple(stack.shape), _calibration(stack.metadata))
    tiles = [thumbnail(stack[i], aspect, 128) for i in _strip_indices(len(stack))]
    tiles = [t if t.ndim == 2 else t[..., 0] for t in tiles]
    height = max(t.shape[0] for t in tiles)
    gap = np.full((height, 2), 255, np.uint8)
    row = []
    for tile in tiles:
        padded = np.full((height, tile.shape[1]), 255, np.uint8)
        padded[: tile.shape[0]] = tile
        row += [padded, gap]
    return _png(np.hstack(row[:-1]))


# ---------------------------------------------------------------- folders
def _known_metadata(folder, index: int):
    """``(metadata, document or None)`` the folder already holds for a file, without reading it."""
    live = getattr(folder, "_live", None)
    document = live(index) if callable(live) else None
    if document is not None:
        return document.metadata, document
    records = getattr(folder, "_records", {})
    record = records.get(index) if isinstance(records, dict) else None
    light = getattr(record, "light", None)
    return (light, None) if isinstance(light, dict) else (None, None)


@_never_raises(_text_fallback)
def folder_html(folder) -> str:
    """HTML for an :class:`~stonerimg.ImageFolder`: its files and the key facts of those already loaded.

    No file is read: a file the folder has not loaded (or whose small metadata
    items it has not kept) shows as "not loaded".
    """
    names = folder.names
    shown = names[:FOLDER_ROWS]
    rows, labels, loaded = [], [], 0
    for index, name in enumerate(shown):
        metadata, document = _known_metadata(folder, index)
        facts = {}
        if metadata is not None:
            loaded += 1
            fmt = getattr(document, "format", None) or None
            facts = dict(_fact_rows(metadata, fmt))
            cal = format_calibration(_calibration(metadata))
            if cal != "uncalibrated":
                facts = {"pixel size": cal, **facts}
            for label in facts:
                if label not in labels:
                    labels.append(label)
        rows.append((index, name, document, facts, metadata is not None))
    header = "".join(f"<th>{_esc(h)}</th>" for h in ["#", "file", "size", *labels])
    body_rows = []
    for index, name, document, facts, known in rows:
        size = _shape_text(document.shape) if document is not None else ("" if known else "not loaded")
        cells = [str(index), name, size] + [facts.get(label, "") for label in labels]
        body_rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    more = len(names) - len(shown)
    note = f"<div class='si-note'>… {more} more files</div>" if more > 0 else ""
    pattern = ", ".join(getattr(folder, "pattern", []) or [])
    summary = [
        ("folder", str(folder.directory)),
        ("pattern", pattern),
        ("files", f"{len(names)}"),
        ("loaded", f"{loaded} (key facts of the others appear once they are read)"),
    ]
    body = (
        f"<table class='si-facts'>{_rows(summary)}</table>"
        f"<table class='si-files'><thead><tr>{header}</tr></thead><tbody>{''.join(body_rows)}</tbody></table>{note}"
    )
    return _wrap(_head(type(folder).__name__, f"{len(names)} files"), body)


# ---------------------------------------------------------------- metadata
@_never_raises(_text_fallback)
def metadata_html(metadata) -> str:
    """HTML for a :class:`~stonerimg.Metadata`: key facts, calibration, then the tree (open), then history."""
    rows = []
    calibration = format_calibration(_calibration(metadata))
    if calibration != "uncalibrated":
        rows.append(("pixel size", calibration))
    rows += _fact_rows(metadata, None)
    table = f"<table class='si-facts'>{_rows(rows)}</table>" if rows else ""
    tree = _metadata_section(metadata).replace("<details class='si-metadata'>", "<details class='si-metadata' open>", 1)
    return _wrap(_head("Metadata", f"{len(metadata)} items"), table + tree + _history_section(metadata))


# ---------------------------------------------------------------- profiles
def _profile_axes(profile):
    """``(x, y, y_low, y_high, x_label, y_label, kind)`` of a Profile or RadialProfile."""
    if hasattr(profile, "r"):
        units = getattr(profile, "r_units", "")
        low, high = profile.mean - profile.std, profile.mean + profile.std
        return profile.r, profile.mean, low, high, f"r ({units})" if units else "r", "mean intensity", "radial"
    units = getattr(profile, "units", "px")
    return profile.distance, profile.value, None, None, f"distance ({units})", "intensity", "line"


def _plot_png(profile, width_in: float = 4.0, height_in: float = 2.6) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x, y, low, high, x_label, y_label, _ = _profile_axes(profile)
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    (line,) = ax.plot(x, y, lw=1.2)
    if low is not None:
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.25, lw=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@_never_raises(_no_png)
def profile_png(profile) -> bytes | None:
    """Plot a line profile or a radial profile (mean with a band of one standard deviation)."""
    if len(profile) == 0:
        return None
    return _plot_png(profile)


@_never_raises(_text_fallback)
def profile_html(profile) -> str:
    """HTML for a line or radial profile: a plot and its numbers for people."""
    x, y, _, _, x_label, _, kind = _profile_axes(profile)
    units = x_label[x_label.find("(") + 1 : -1] if "(" in x_label else ""
    finite = np.asarray(y, dtype=float)
    finite = finite[np.isfinite(finite)]
    rows = [("samples" if kind == "line" else "bins", str(len(profile)))]
    if len(x):
        label = "length" if kind == "line" else "r"
        first, last = float(np.nanmin(x)), float(np.nanmax(x))
        rows.append((label, f"{format_quantity(first, units)} … {format_quantity(last, units)}"))
    if finite.size:
        rows.append(("values", f"{format_number(finite.min())} … {format_number(finite.max())}"))
    masked = int(np.count_nonzero(getattr(profile, "mask", np.zeros(0, bool))))
    if masked:
        rows.append(("masked samples", str(masked)))
    if kind == "radial":
        rows.append(("pixels", str(int(np.sum(profile.count)))))
    plot = ""
    png = profile_png(profile) if len(profile) else None
    if png:
        plot = (
            f"<img class='si-thumb' width='400' height='260' style='width:400px;height:260px' alt='profile' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'/>"
        )
    body = f"<div class='si-body'>{plot}<table class='si-facts'>{_rows(rows)}</table></div>"
    body += _metadata_section(profile.metadata, "metadata of the image")
    title = type(profile).__name__
    return _wrap(_head(title, f"{len(profile)} {'samples' if kind == 'line' else 'bins'}"), body)
