"""DigitalMicrograph microscope items against RosettaSciIO (through HyperSpy's mapping) and by hand."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

import stonerimg
from stonerimg.formats.dm import _parse_time

FILES = ["test_diffraction_pattern.dm3", "test_STEM_image.dm3", "EELS_SI.dm4"]


def _hyperspy_instrument(path):
    hs = pytest.importorskip("hyperspy.api")
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    signal = hs.load(str(path))
    signal = signal[0] if isinstance(signal, list) else signal
    return signal.metadata.get_item("Acquisition_instrument.TEM", default=None)


@pytest.mark.parametrize("name", FILES)
def test_camera_length_and_magnification_agree_with_rosettasciio(dm_dir, name):
    document = stonerimg.load(dm_dir / name, fmt="dm")
    reference = _hyperspy_instrument(dm_dir / name)
    assert reference is not None
    for key in ("camera_length", "magnification"):
        expected = reference.get_item(key, default=None)
        got = document.metadata.get(f"microscope.{key}")
        if expected is None:
            assert got is None, f"{key}: RosettaSciIO has none, stonerimg {got}"
        else:
            assert got == pytest.approx(float(expected), rel=1e-12), key


def test_diffraction_mode_camera_length_is_the_indicated_magnification(dm_dir):
    metadata = stonerimg.load(dm_dir / "test_diffraction_pattern.dm3").metadata
    assert metadata["microscope.camera_length"] == pytest.approx(320.0)  # was 0.0 (the STEM camera length)
    assert metadata["microscope.camera_length.units"] == "mm"
    assert "microscope.magnification" not in metadata  # in diffraction there is no image magnification
    assert metadata["microscope.acquisition_time"] == "18:56:37"


def test_exposure_per_frame_and_total_integration_time_are_named_apart(dm_dir):
    metadata = stonerimg.load(dm_dir / "EELS_SI.dm4").metadata
    per_frame = metadata["microscope.exposure"]
    assert per_frame == pytest.approx(0.02001, rel=1e-3) and metadata["microscope.exposure.units"] == "s"
    assert metadata["microscope.frames"] == 1
    assert metadata["microscope.integration_time"] == pytest.approx(per_frame * 1)
    assert metadata["microscope.integration_time.units"] == "s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6:56:37 PM", dt.time(18, 56, 37)),  # US
        ("08:55:59 p.m.", dt.time(20, 55, 59)),  # Mexico
        ("08:55:59 p. m.", dt.time(20, 55, 59)),  # Spain, Mexico (Windows 10)
        ("12:05:01 a.m.", dt.time(0, 5, 1)),
        ("12:05:01 PM", dt.time(12, 5, 1)),
        ("20:55:59", dt.time(20, 55, 59)),  # UK, Germany, France
        ("20.55.59", dt.time(20, 55, 59)),  # Finland, Denmark
        ("8:55:59 nachm.", dt.time(20, 55, 59)),  # German 12-hour
        ("下午 8:55:59", dt.time(20, 55, 59)),  # Chinese
        ("午前 8:55:59", dt.time(8, 55, 59)),  # Japanese
        ("8:55", dt.time(8, 55)),
    ],
)
def test_acquisition_time_whatever_the_locale(text, expected):
    assert _parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00:00", "13:00:00 PM", "8:55:59 xm", "noon", "", "8:61:00", "p.m. 8:55 a.m."])
def test_acquisition_time_refuses_what_it_cannot_read(text):
    assert _parse_time(text) is None
