"""``session.show()`` in a notebook: one picture that updates in place while the session runs.

With ``%matplotlib widget`` (ipympl) the :class:`~stonerimg.live.LiveView` figure is
itself a widget and animates on its timer.  With the inline backend (or any other
that draws static pictures) a figure displayed in a cell never changes and
re-displaying it piles up outputs, so :class:`LiveWidget` renders the LiveView to a
PNG in a background thread and writes it into one ``ipywidgets.Image``: the kernel
stays free, the acquisition is never waited for, and the cell keeps one output.
"""

from __future__ import annotations

import io
import threading

__all__ = ["LiveWidget", "wants_widget"]


def wants_widget() -> bool:
    """Tell whether ``session.show()`` should give a :class:`LiveWidget`.

    True in a Jupyter kernel with ipywidgets installed and a matplotlib backend that
    cannot animate a figure in place (inline and other static backends; not ipympl).
    """
    from .select import _in_kernel

    if not _in_kernel():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    import matplotlib

    from ..live.display import _animated

    backend = matplotlib.get_backend().lower()
    return not _animated(backend)


class LiveWidget:
    """A live session's panels as one image widget, refreshed every ``interval`` seconds.

    Parameters
    ----------
    session : Session
        The session to follow (it may be started before or after).
    interval : float, default 0.5
        Seconds between two refreshes.
    **kwargs
        Options of :class:`~stonerimg.live.LiveView` (``frame``, ``rows``, ``log``).

    Attributes
    ----------
    view : LiveView
        The figure being drawn (not animated, not shown by pyplot).
    image : ipywidgets.Image
        The PNG shown; ``refreshes`` counts how often it was redrawn.
    status : ipywidgets.Label
        Frames seen, rate and drops.
    widget : ipywidgets.VBox
        What is displayed.

    Notes
    -----
    The refresh thread ends one refresh after the session stops (or on
    :meth:`close`), so the last picture shows the final state.
    """

    def __init__(self, session, *, interval: float = 0.5, **kwargs):
        import ipywidgets as w
        import matplotlib.pyplot as plt

        from ..live.display import LiveView

        self.session = session
        self.interval = float(interval)
        self.view = LiveView(session, animate=False, **kwargs)
        plt.close(self.view.figure)  # drawn here, never by pyplot (an inline backend would show it once more)
        self.image = w.Image(format="png")
        self.status = w.Label(value="waiting for the session to start")
        self.widget = w.VBox([self.image, self.status])
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="stonerimg-live-widget", daemon=True)
        self.refresh()
        self._thread.start()

    def refresh(self) -> None:
        """Redraw the panels from the sinks and put the picture into the widget."""
        self.view.update()
        buffer = io.BytesIO()
        self.view.figure.savefig(buffer, format="png", dpi=72)
        self.image.value = buffer.getvalue()
        self.status.value = self.session.stats().line()
        self.refreshes += 1

    def _follow(self) -> None:
        seen_running = False
        while not self._stop.wait(self.interval):
            running = self.session.running
            seen_running |= running
            self.refresh()
            if seen_running and not running:
                break

    def close(self) -> None:
        """Stop refreshing (the session goes on)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
