"""Numbers for people: stonerimg.units, the one formatter of the project."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stonerimg import AxisCalibration, Calibration
from stonerimg.units import format_calibration, format_number, format_quantity, format_value, length_in


@pytest.mark.parametrize(
    ("value", "units", "expected"),
    [
        (0.015000000000000138, "µm", "15 nm"),
        (0.015000000000000138, "μm", "15 nm"),  # Greek mu, as PolLux files write it
        (0.015, "um", "15 nm"),
        (1.5e-10, "m", "150 pm"),
        (999.99999999, "nm", "1 µm"),  # rounds up into the next prefix
        (0.5, "µm", "0.5 µm"),  # 0.1 to 1000 keeps the file's units
        (250.0, "nm", "250 nm"),
        (0.0, "nm", "0 nm"),
        (-0.002, "s", "-2 ms"),
        (781.4934535490478, "eV", "781.493 eV"),
        (1.5e6, "eV", "1.5 MeV"),
        (0.17443285882472992, "1/nm", "0.174433 1/nm"),  # compound units are left alone
        (12345678.0, "px", "1.23457e+07 px"),
        (float("nan"), "nm", "nan nm"),
        (float("inf"), "nm", "inf nm"),
    ],
)
def test_format_quantity(value, units, expected):
    assert format_quantity(value, units) == expected


def test_format_quantity_keeps_the_value():
    """The text read back (with its prefix) is the value to six significant digits."""
    prefixes = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3}
    rng = np.random.default_rng(0)
    for value in 10.0 ** rng.uniform(-11, 3, 200) * 1e-6:  # metres
        number, unit = format_quantity(value, "m").split(" ")
        back = float(number) * prefixes[unit[:-1]]
        assert math.isclose(back, value, rel_tol=5e-6)


def test_format_number_integers_bools_and_complex():
    assert format_number(np.int64(7)) == "7"
    assert format_number(np.bool_(False)) == "False"
    assert format_number(1 + 2j) == "1+2j"
    assert format_number(-0.0) == "0"


def test_format_calibration():
    square = Calibration(AxisCalibration(0.2485380172, 0, "nm"), AxisCalibration(0.2485380172, 0, "nm"))
    assert format_calibration(square) == "0.248538 nm/px"
    assert format_calibration(Calibration(AxisCalibration(), AxisCalibration())) == "uncalibrated"
    mixed = Calibration(AxisCalibration(0.05, 0, "µm"), AxisCalibration(2.0, 0, "eV"))
    assert format_calibration(mixed) == "50 nm/px (x) × 2 eV/px (y)"


def test_format_value():
    assert format_value(np.full((3, 3), np.nan)) == "nan"
    assert format_value(np.arange(6).reshape(2, 3), "s") == "0 s … 5 s (2 × 3 values)"
    assert format_value("x" * 200, limit=10) == "x" * 9 + "…"
    assert format_value(["a", "b"]) == "['a', 'b']"


def test_length_in():
    assert length_in(1.0, "mm", "µm") == pytest.approx(1000.0)
    assert length_in(1.0, "nm", "eV") is None
    assert length_in(2.0, "px", "px") == 2.0
