"""The conversions the reader and writer share: units, contrast limits, image <-> layer data."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import stonerimg
from stonerimg.napari import image_from_layer, layers_from
from stonerimg.napari._layers import CONTRAST_SAMPLE, contrast_limits, napari_units, units_text


@pytest.mark.parametrize(
    ("units", "spatial", "expected"),
    [
        ("µm", True, "µm"),
        ("um", True, "µm"),  # normalised as the loaders normalise
        ("1/nm", True, "1/nm"),  # reciprocal space (a diffraction pattern)
        ("px", True, None),
        ("", True, None),
        ("a.u.", True, None),  # pint would read it as year * atomic mass unit
        ("eV", True, None),  # not a length: not for an image axis
        ("eV", False, "eV"),
        ("Oe", False, "Oe"),
        ("a.u.", False, None),
        (None, False, None),
    ],
)
def test_units_napari_gets(units, spatial, expected):
    assert napari_units(units, spatial=spatial) == expected


def test_units_back_from_napari():
    import pint

    registry = pint.get_application_registry()
    assert units_text(registry.micrometer) == "µm"
    assert units_text(registry.parse_expression("1/nm").units) == "1/nm"
    assert units_text(registry.pixel) == "px"
    assert units_text(None) == "px"


def test_contrast_limits_of_a_large_plane_use_a_regular_subsample():
    rng = np.random.default_rng(4)
    plane = rng.normal(size=(1500, 1600))
    plane[::37, ::41] = 1e9  # hot pixels do not set the range
    step = int(np.ceil(np.sqrt(plane.size / CONTRAST_SAMPLE)))
    assert step == 2
    assert_allclose(contrast_limits(plane), np.percentile(plane[::2, ::2], [0.5, 99.5]))
    assert contrast_limits(plane)[1] < 10


def test_contrast_limits_of_flat_empty_and_boolean_planes():
    assert contrast_limits(np.full((4, 4), 7.0)) == (6.5, 7.5)
    assert contrast_limits(np.full((4, 4), np.nan)) == (0.0, 1.0)
    assert contrast_limits(np.ones((4, 4), bool)) == (0.0, 1.0)
    masked_out = np.zeros((4, 4), bool)
    masked_out[0] = True
    data = np.arange(16.0).reshape(4, 4)
    assert contrast_limits(data, masked_out)[0] >= 4.0


def test_layer_data_round_trip_keeps_pixels_mask_metadata_and_calibration():
    mask = np.zeros((5, 6), bool)
    mask[1, 2] = True
    image = stonerimg.ImageArray(np.arange(30.0).reshape(5, 6), mask=mask, metadata={"title": "t", "history": ["a()"]})
    image.set_calibration((0.5, -0.25), units="nm", offset=(1.0, 2.0))
    (data, kwargs, kind), (labels, label_kwargs, label_kind) = layers_from(image)
    assert (kind, label_kind) == ("image", "labels")
    assert label_kwargs["scale"] == kwargs["scale"] == (-0.25, 0.5)
    back = image_from_layer(data, kwargs, mask=labels)
    assert_array_equal(back.data, image.data)
    assert_array_equal(np.ma.getmaskarray(back), mask)
    assert back.calibration == image.calibration
    assert back.metadata["history"] == ["a()"]
    assert back.title == "t"


def test_shapes_napari_cannot_show_are_refused():
    with pytest.raises(ValueError, match="2-D images and"):
        layers_from(stonerimg.ImageArray(np.zeros((2, 3, 4, 5))))
    with pytest.raises(ValueError, match="scale, translate and units need 2 values"):
        image_from_layer(np.zeros((3, 4)), {"scale": (1.0, 1.0, 1.0)})
