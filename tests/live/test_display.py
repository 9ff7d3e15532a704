"""Session.show draws every panel from the sinks, headless (Agg)."""

import matplotlib
import numpy as np
import pytest

from stonerimg.live import Session

matplotlib.use("Agg")


@pytest.fixture
def finished_session():
    frames = [np.random.default_rng(i).random((20, 24)) * 100 for i in range(5)]
    session = Session(frames, ["mean", "centroid", "fft_radial_profile", "fft"], roi=(2, 2, 16, 12), drop=False)
    session.run()
    return session


def test_show_draws_the_panels_with_the_sinks_data(finished_session):
    import matplotlib.pyplot as plt

    session = finished_session
    view = session.show()
    try:
        assert view.animation is None  # Agg never fires a timer
        view.update()
        view.figure.canvas.draw()
        assert set(view.panels) == {"frame", "mean", "centroid", "fft_radial_profile", "fft"}
        (line,) = view.panels["mean"].get_lines()
        np.testing.assert_array_equal(line.get_ydata(), session["mean"].column("value"))
        x_line, y_line = view.panels["centroid"].get_lines()
        np.testing.assert_array_equal(y_line.get_ydata(), session["centroid"].column("y"))
        waterfall = view.panels["fft_radial_profile"].get_images()[0].get_array()
        np.testing.assert_array_equal(np.ma.getdata(waterfall), session["fft_radial_profile"].data().rows)
        image = view.panels["fft"].get_images()[0].get_array()
        np.testing.assert_array_equal(np.ma.getdata(image), session["fft"].image)
        frame = view.panels["frame"].get_images()[0].get_array()
        np.testing.assert_array_equal(np.ma.getdata(frame), session.latest_frame.data)
        box = view.panels["frame"].patches[0]
        assert box.get_visible() and (box.get_x(), box.get_y(), box.get_width()) == (1.5, 1.5, 16)
        assert "5 frames" not in view.panels["mean"].get_title() and "dropped" in view.panels["mean"].get_title()
    finally:
        view.close()
    assert not plt.fignum_exists(view.figure.number)
