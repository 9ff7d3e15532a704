"""Kerr microscope PNGs load as KerrImage with typed metadata, field and calibration."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import stonerimg
from stonerimg import FormatError, ImageFile
from stonerimg.formats.kerr import ANNOTATED_SIZE, IMAGE_SIZE, KerrImage


def pillow_text(path) -> dict:
    with Image.open(path) as picture:
        picture.load()
        return dict(picture.text)


def kerr_files(kerr_dir):
    return [kerr_dir / "kermit.png", kerr_dir / "im2_noannotations.png", *sorted((kerr_dir / "fields").glob("*.png"))]


def test_every_real_kerr_file_is_a_kerr_image(kerr_dir):
    for path in kerr_files(kerr_dir):
        document = stonerimg.load(path)
        assert isinstance(document, KerrImage), path
        assert document.format == "kerr"
        with Image.open(path) as picture:
            np.testing.assert_array_equal(document.data, np.asarray(picture))
        assert document.dtype == np.uint16


def test_field_and_calibration_come_from_the_typed_metadata(kerr_dir):
    for path in [kerr_dir / "im2_noannotations.png", *sorted((kerr_dir / "fields").glob("*.png"))]:
        text = pillow_text(path)
        document = KerrImage.load(path)
        assert document.field == float(text["X-B-2d{Double Float}"])
        assert document["field.units"] == "Oe"
        scale = float(text["MicronsPerPixel{Double Float}"])
        assert document.calibration.x == (scale, 0.0, "µm") and document.calibration.y == (scale, 0.0, "µm")
        assert isinstance(document["Images to Average"], int)
        assert isinstance(document["Averaging"], bool)


def test_fields_folder_gives_distinct_fields(kerr_dir):
    fields = [stonerimg.load(p).field for p in sorted((kerr_dir / "fields").glob("*.png"))]
    assert len(set(fields)) == len(fields) == 8


def test_old_stoner_kerr_file_without_a_field(kerr_dir):
    document = stonerimg.load(kerr_dir / "kermit.png")
    assert np.isnan(document.field)
    assert document["field.units"] == "Oe"  # from a string wrapped in layers of old escaping
    assert "Oerstedt" in document["field: units"]  # the raw value is kept as it is


def test_plain_png_is_not_a_kerr_image(tmp_path):
    Image.fromarray(np.arange(20, dtype=np.uint8).reshape(4, 5)).save(tmp_path / "plain.png")
    document = stonerimg.load(tmp_path / "plain.png")
    assert type(document) is ImageFile and document.format == "png"
    with pytest.raises(FormatError, match="kerr"):
        KerrImage.load(tmp_path / "plain.png")


def test_crop_text_removes_only_the_annotation_band():
    data = np.arange(np.prod(ANNOTATED_SIZE), dtype=np.uint16).reshape(ANNOTATED_SIZE)
    annotated = KerrImage(data)
    assert annotated.crop_text() is annotated
    assert annotated.shape == IMAGE_SIZE
    np.testing.assert_array_equal(annotated.data, data[: IMAGE_SIZE[0]])
    plain = KerrImage(data[: IMAGE_SIZE[0]].copy())
    plain.crop_text()
    assert plain.shape == IMAGE_SIZE
    odd = KerrImage(np.zeros((479, 359), np.uint16))
    odd.crop_text()
    assert odd.shape == (479, 359)


def test_saved_kerr_image_loads_back_as_kerr_image(kerr_dir, tmp_path):
    document = stonerimg.load(kerr_dir / "im2_noannotations.png")
    document.save(tmp_path / "copy.png")
    again = stonerimg.load(tmp_path / "copy.png")
    assert isinstance(again, KerrImage)
    assert again == document
