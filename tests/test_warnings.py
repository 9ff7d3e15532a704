"""Warnings point at the user's line, not into the library, however deep the call."""

import warnings

import numpy as np

import stonerimg
from stonerimg import ConversionWarning


def test_conversion_warnings_name_the_callers_line():
    image = stonerimg.ImageArray(np.array([[0.0, 0.5]]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image.asint()  # asint -> convert -> _convert_array -> warning
        stonerimg.ImageFile(image).convert(np.uint8)  # through the ImageFile method
        stonerimg.funcs.convert(np.array([[0.25]]), np.uint8)  # the plain function on an ndarray
    conversions = [w for w in caught if issubclass(w.category, ConversionWarning)]
    assert len(conversions) == 3
    assert {w.filename for w in conversions} == {__file__}


def test_level_image_clipping_warning_names_the_callers_line():
    ramp = stonerimg.ImageArray(np.linspace(0, 5, 20).reshape(4, 5) ** 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ramp.level_image(mode="clip")
    assert [w.filename for w in caught if "clipped" in str(w.message)] == [__file__]


def test_format_error_survives_pickling():
    import pickle

    error = stonerimg.FormatError("x.png", [("png", "not a PNG file")], reason="")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.attempts == error.attempts and again.filename == "x.png"
