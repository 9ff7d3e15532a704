"""Calibration steps from recorded positions: the decimals the instrument wrote, not float noise."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import stonerimg
from stonerimg.formats._axis import even_spacing, recorded_decimals


def test_stxm_calibration_is_the_recorded_decimals(stxm_dir):
    path = stxm_dir / "Sample_Image_2017-10-15_100.hdf5"
    with h5py.File(path, "r") as handle:  # the independent reference: the positions in the file
        x = np.asarray(handle["entry1/counter0/sample_x"][()], float)
        y = np.asarray(handle["entry1/counter0/sample_y"][()], float)
    metadata = stonerimg.load(path).metadata
    assert repr(metadata["calibration.x.scale"]) == "0.015"  # was 0.015000000000000138
    assert repr(metadata["calibration.y.scale"]) == "-0.015"
    # the calibration still describes the recorded positions (x: first column, y: rows reversed)
    cols, rows = x.size, y.size
    np.testing.assert_allclose(metadata["calibration.x.offset"] + metadata["calibration.x.scale"] * np.arange(cols), x)
    np.testing.assert_allclose(
        metadata["calibration.y.offset"] + metadata["calibration.y.scale"] * np.arange(rows), y[::-1]
    )
    assert repr(metadata["calibration.x.offset"]) == repr(float(np.round(x[0], 4)))


@pytest.mark.parametrize(
    ("first", "step", "n", "decimals"),
    [(880.7835, 0.015, 200, 4), (-123.49, 0.75, 40, 2), (0.0, 0.1, 11, 1), (1e-6, 2e-7, 50, 7), (5000.0, 2.5, 8, 1)],
)
def test_even_spacing_gives_decimal_steps(first, step, n, decimals):
    points = first + step * np.arange(n)  # float noise, as an instrument's software would write it
    points = np.round(points, decimals)
    assert recorded_decimals(points) == decimals
    got_step, got_first = even_spacing(points)
    assert repr(got_step) == repr(step) and repr(got_first) == repr(first)


def test_even_spacing_falls_back_to_the_mean_step():
    points = np.round(np.arange(150) / 30.0, 3)  # positions rounded to 0.001: the pitch is 1/30, not a decimal
    step, first = even_spacing(points, rtol=1e-1)
    assert step == pytest.approx(points[-1] / 149) and first == 0.0
    assert even_spacing(np.array([0.0, 1.0, 3.0])) is None  # not evenly spaced
    assert even_spacing(np.array([2.0, 2.0])) is None and even_spacing(np.array([1.0])) is None
    assert even_spacing(np.array([0.0, np.nan])) is None
