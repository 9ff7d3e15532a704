"""``LiveView``: a matplotlib figure with one panel per processor, following the sinks as they fill."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LiveView"]

#: Backends on which a timer never fires, so an animation would only cost memory.
_STATIC_BACKENDS = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def _limits(values: np.ndarray, log: bool = False) -> tuple[float, float]:
    """Colour limits: the 1st and 99th percentiles of the finite (and, for a log scale, positive) values."""
    sample = values[:: max(1, values.shape[0] // 256), :: max(1, values.shape[1] // 256)]
    finite = sample[np.isfinite(sample) & (sample > 0)] if log else sample[np.isfinite(sample)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(finite, (1, 99))
    return (float(lo), float(hi) if hi > lo else float(lo) * 2 if log else float(lo) + 1.0)


def _animated(backend: str) -> bool:
    backend = backend.lower()
    return backend not in _STATIC_BACKENDS and "inline" not in backend


class LiveView:
    """A figure whose panels show a session's latest frame and every processor's sink.

    Parameters
    ----------
    session : Session
        The session to follow.
    interval : float, default 0.25
        Seconds between two redraws (when animated).
    frame : bool, default True
        Add a panel with the latest frame and the session's ROI.
    rows : int, default 300
        Newest rows of a waterfall to show.
    animate : bool, optional
        Redraw on a timer (``matplotlib.animation.FuncAnimation``); default on an
        interactive backend (a window, or ``%matplotlib widget`` in a notebook), off on
        a static one (Agg, inline) where :meth:`update` redraws on demand.
    block : bool, default False
        Call ``matplotlib.pyplot.show()`` and return only when the window is closed.
    log : sequence of str, default ("fft_radial_profile",)
        Panels (processor names) drawn on a logarithmic colour scale; the values of a
        spectrum span decades.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
        The figure.
    panels : dict
        ``{name: Axes}`` (``"frame"`` for the frame panel).

    Notes
    -----
    Scalar traces are lines against time since the first result (one line per
    column); profiles are waterfalls (newest row at the bottom); images are shown as
    they are.  Colour limits follow the 1st to 99th percentiles, so a bright DC peak
    does not wash out a diffractogram.  In a notebook with the inline backend call
    ``view.update()`` and display ``view.figure`` whenever you want a fresh picture.
    """

    def __init__(
        self,
        session,
        *,
        interval: float = 0.25,
        frame: bool = True,
        rows: int = 300,
        animate: bool | None = None,
        block: bool = False,
        log=("fft_radial_profile",),
    ):
        import matplotlib
        import matplotlib.pyplot as plt

        self.session = session
        self.rows = int(rows)
        self.log = {log} if isinstance(log, str) else set(log)
        names = (["frame"] if frame else []) + list(session.sinks)
        ncols = min(3, len(names))
        nrows = math.ceil(len(names) / ncols)
        self.figure, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
        flat = list(axes.ravel())
        for ax in flat[len(names) :]:
            ax.set_visible(False)
        self.panels = dict(zip(names, flat, strict=False))
        self._artists: dict = {}
        for name, ax in self.panels.items():
            self._setup(name, ax)
        self.figure.tight_layout()
        self.animation = None
        if animate is None:
            animate = _animated(matplotlib.get_backend())
        if animate:
            from matplotlib.animation import FuncAnimation

            self.animation = FuncAnimation(
                self.figure, lambda _: self.update(), interval=1e3 * interval, cache_frame_data=False
            )
        if block:
            plt.show()

    def _setup(self, name: str, ax) -> None:
        if name == "frame":
            from matplotlib.patches import Rectangle

            image = ax.imshow(np.zeros((1, 1)), cmap="gray", interpolation="nearest")
            box = Rectangle((0, 0), 0, 0, fill=False, edgecolor="tab:orange", linewidth=1.5, visible=False)
            ax.add_patch(box)
            ax.set_title("frame")
            self._artists[name] = (image, box)
            return
        sink = self.session.sinks[name]
        if sink.kind == "scalar":
            lines = [ax.plot([], [], label=column)[0] for column in sink.columns]
            if len(lines) > 1:
                ax.legend(loc="upper left", fontsize="small")
            ax.set_xlabel("time (s)")
            self._artists[name] = lines
        elif sink.kind == "profile":
            from matplotlib.colors import LogNorm, Normalize

            norm = LogNorm(1, 10) if name in self.log else Normalize(0, 1)
            self._artists[name] = ax.imshow(np.ones((1, 1)), aspect="auto", interpolation="nearest", norm=norm)
            ax.set_xlabel("position in profile")
            ax.set_ylabel("result (newest at the bottom)")
        else:
            from matplotlib.colors import LogNorm, Normalize

            norm = LogNorm(1, 10) if name in self.log else Normalize(0, 1)
            self._artists[name] = ax.imshow(np.ones((1, 1)), interpolation="nearest", norm=norm)
        ax.set_title(name)

    def update(self) -> list:
        """Redraw every panel from the sinks' current contents; return the changed artists."""
        stats = self.session.stats()
        changed = []
        for name, ax in self.panels.items():
            if name == "frame":
                changed += self._update_frame(ax)
                continue
            sink = self.session.sinks[name]
            artist = self._artists[name]
            if sink.kind == "scalar":
                data = sink.data()
                if len(data.t):
                    t = data.t - data.t[0]
                    for i, line in enumerate(artist):
                        line.set_data(t, data.values[:, i])
                    ax.relim()
                    ax.autoscale_view()
                changed += artist
            elif sink.kind == "profile":
                rows = sink.data().rows[-self.rows :]
                if rows.size:
                    artist.set_data(rows)
                    artist.set_extent((-0.5, rows.shape[1] - 0.5, rows.shape[0] - 0.5, -0.5))
                    artist.set_clim(*_limits(rows, name in self.log))
                changed.append(artist)
            else:
                _, number, image = sink.latest()
                if image is not None:
                    values = np.ma.getdata(image)
                    artist.set_data(values)
                    artist.set_extent((-0.5, values.shape[1] - 0.5, values.shape[0] - 0.5, -0.5))
                    artist.set_clim(*_limits(values, name in self.log))
                changed.append(artist)
            p = stats.processors[name]
            title = f"{name}: {p.rate:.1f}/s, {p.dropped} dropped"
            ax.set_title(title + (f", {p.errors} errors" if p.errors else ""), fontsize="medium")
        return changed

    def _update_frame(self, ax) -> list:
        image, box = self._artists["frame"]
        frame = self.session.latest_frame
        if frame is None:
            return []
        values = np.asarray(frame.data)
        image.set_data(values)
        image.set_extent((-0.5, values.shape[1] - 0.5, values.shape[0] - 0.5, -0.5))
        image.set_clim(*_limits(values))
        bounds = self.session.roi.bounds
        if bounds is not None:
            x, y, w, h = bounds
            box.set_bounds(x - 0.5, y - 0.5, w, h)
        box.set_visible(bounds is not None)
        ax.set_title(f"frame {frame['frame']}", fontsize="medium")
        return [image, box]

    def close(self) -> None:
        """Stop the animation and close the figure."""
        import matplotlib.pyplot as plt

        if self.animation is not None:
            self.animation.event_source.stop()
            self.animation = None
        plt.close(self.figure)
