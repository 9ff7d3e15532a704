"""PNG: lossless round trips of the dtypes PNG holds, refusals, foreign, legacy Stoner and Kerr files."""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import stonerimg
from stonerimg import ImageArray

from .helpers import (
    a_mask,
    assert_round_trip,
    assert_same_pixels,
    assert_same_value,
    assert_save_leaves_image_unchanged,
    assert_unchanged,
    sample_pixels,
    snapshot,
)

KINDS = ["bool", "uint8", "uint16", "rgb", "rgba"]


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(tmp_path, kind, masked):
    assert_round_trip(tmp_path, sample_pixels(kind), ".png", "png", masked)


@pytest.mark.parametrize("kind", KINDS)
def test_read_independently_with_pillow(tmp_path, kind):
    data = sample_pixels(kind)
    ImageArray(data, mask=a_mask(data.shape), metadata={"gain": 1.5, "units": "µm"}).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as picture:
        assert picture.format == "PNG"
        picture.load()
        pixels = np.asarray(picture)
        chunk = picture.text["stonerimg"]
    if kind == "uint16":
        assert picture.mode.startswith("I")
        pixels = pixels.astype(np.uint16)
    assert pixels.shape == data.shape
    assert np.array_equal(pixels, data)
    assert isinstance(chunk, PngImagePlugin.iTXt)
    document = json.loads(chunk)
    assert document["stonerimg"] == 1
    assert np.dtype(document["dtype"]) == data.dtype
    assert document["metadata"] == {"gain": 1.5, "units": "µm"}
    assert "mask" in document
    assert b"iTXtstonerimg" in (tmp_path / "x.png").read_bytes()


def test_non_square_orientation(tmp_path):
    data = np.arange(7 * 13, dtype=np.uint8).reshape(7, 13)
    ImageArray(data).save(tmp_path / "wide.png")
    ImageArray(data.T).save(tmp_path / "tall.png")
    wide, tall = stonerimg.load(tmp_path / "wide.png"), stonerimg.load(tmp_path / "tall.png")
    assert wide.shape == (7, 13) and tall.shape == (13, 7)
    assert wide.data[0, 12] == 12 and wide.data[6, 0] == 78
    assert_same_pixels(data, wide.data)
    assert_same_pixels(data.T.copy(), tall.data)
    with Image.open(tmp_path / "wide.png") as picture:
        assert picture.size == (13, 7)  # Pillow's (width, height)


def test_big_endian_uint16(tmp_path):
    """A uint16 image in big-endian byte order (as tifffile gives for 'MM' files) is still uint16."""
    data = sample_pixels("uint16").astype(">u2")
    ImageArray(data).save(tmp_path / "be.png")
    loaded = stonerimg.load(tmp_path / "be.png")
    assert np.array_equal(loaded.data, data)
    assert loaded.dtype.kind == "u" and loaded.dtype.itemsize == 2


@pytest.mark.parametrize("kind", ["bool", "uint16", "rgb"])
def test_save_does_not_change_the_image(tmp_path, kind):
    assert_save_leaves_image_unchanged(tmp_path, sample_pixels(kind), ".png")


@pytest.mark.parametrize(
    "data",
    [
        np.linspace(0, 1, 91).reshape(7, 13),
        np.linspace(0, 1, 91, dtype=np.float32).reshape(7, 13),
        np.arange(91, dtype=np.int32).reshape(7, 13),
        np.arange(91, dtype=np.int8).reshape(7, 13),
        np.arange(91, dtype=np.uint32).reshape(7, 13),
        np.zeros((7, 13), dtype=np.complex64),
    ],
    ids=lambda d: str(d.dtype),
)
def test_unsupported_dtype_is_refused(tmp_path, data):
    image = ImageArray(data, metadata={"a": 1})
    before = snapshot(image)
    with pytest.raises(ValueError) as info:
        image.save(tmp_path / "image.png")
    message = str(info.value)
    assert str(data.dtype) in message
    assert ".tif" in message and ".npy" in message
    assert os.listdir(tmp_path) == []
    assert_unchanged(image, before)


def test_uint16_colour_is_refused(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        ImageArray(np.zeros((7, 13, 3), dtype=np.uint16)).save(tmp_path / "image.png")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- foreign PNGs


def test_pillow_png_with_text_chunks(tmp_path):
    data = sample_pixels("uint8")
    info = PngImagePlugin.PngInfo()
    info.add_text("Gain{Double Float}", "1.5")
    info.add_text("Flag{Boolean}", "False")
    info.add_text("Comment", "a plain comment")
    info.add_text("Frames{I32}", "12", zip=True)
    info.add_itxt("Units{String}", "µm")
    Image.fromarray(data).save(tmp_path / "foreign.png", pnginfo=info)
    loaded = stonerimg.load(tmp_path / "foreign.png")
    assert_same_pixels(data, loaded.data)
    assert_same_value(
        {"Gain": 1.5, "Flag": False, "Comment": "a plain comment", "Frames": 12, "Units": "µm"},
        dict(loaded.metadata),
    )


def test_pillow_png_16_bit_and_palette(tmp_path):
    data16 = sample_pixels("uint16")
    Image.fromarray(data16).save(tmp_path / "grey16.png")
    loaded = stonerimg.load(tmp_path / "grey16.png")
    assert_same_pixels(data16, loaded.data)
    assert len(loaded.metadata) == 0

    rgb = sample_pixels("rgb")
    Image.fromarray(rgb).quantize(8).save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as picture:
        assert picture.mode == "P"
        reference = np.asarray(picture.convert("RGB"))
    loaded = stonerimg.load(tmp_path / "palette.png")
    assert_same_pixels(reference, loaded.data)


# --------------------------------------------------------------------------- legacy Stoner PNGs

STONER_ENTRIES = [
    "Loaded from{String}=C:/x.png",
    "count{I32}=3",
    "gain{Double Float}=1.5",
    "flag{Boolean}=False",
    "names{List}=['a', 'b']",
    "cfg{Cluster (I32,String)}={'a': 1, 'b': 'x'}",
    "arr{1D Array (Double Float)}=array([1., 2.])",
    "nothing{Void}=None",
    "equation{String}=a=b+c",
]


def stoner_save_png(image: np.ndarray, path, entries) -> None:
    """Write a PNG the way Stoner's ``save_png`` does: 8-bit rescaled pixels, one text chunk per entry."""
    meta = PngImagePlugin.PngInfo()
    info = [(i.split("=")[0], "=".join(i.split("=")[1:])) for i in entries]
    for k, v in info:
        meta.add_text(k, v)
    s = (image - image.min()) * 256 / (image.max() - image.min())
    picture = Image.fromarray(s.astype("uint8"))  # Stoner passes mode="L"; Pillow picks L for uint8
    assert picture.mode == "L"
    picture.save(path, pnginfo=meta)


def test_stoner_png(tmp_path):
    image = np.linspace(-3.0, 7.5, 7 * 13).reshape(7, 13)
    stoner_save_png(image, tmp_path / "stoner.png", STONER_ENTRIES)
    with Image.open(tmp_path / "stoner.png") as picture:
        assert picture.mode == "L"
        reference = np.asarray(picture)
    loaded = stonerimg.load(tmp_path / "stoner.png")
    assert_same_pixels(reference, loaded.data)
    assert_same_value(
        {
            "Loaded from": "C:/x.png",
            "count": 3,
            "gain": 1.5,
            "flag": False,
            "names": ["a", "b"],
            "cfg": {"a": 1, "b": "x"},
            "arr": np.array([1.0, 2.0]),
            "nothing": None,
            "equation": "a=b+c",
        },
        dict(loaded.metadata),
        "stoner metadata",
    )


def test_text_chunks_are_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payloads = {
        "x{Cluster}": "__import__('os').system('touch PWNED')",
        "y{List}": "[open('PWNED', 'w')]",
        "z{1D Array (Double Float)}": "array(__import__('os').system('touch PWNED'))",
        "w{I32}": 'exec(\'open("PWNED", "w")\')',
    }
    info = PngImagePlugin.PngInfo()
    for key, value in payloads.items():
        info.add_text(key, value)
    Image.fromarray(sample_pixels("uint8")).save(tmp_path / "evil.png", pnginfo=info)
    loaded = stonerimg.load(tmp_path / "evil.png")
    assert os.listdir(tmp_path) == ["evil.png"]
    for key, value in payloads.items():
        assert loaded.metadata[key.partition("{")[0]] == value


# --------------------------------------------------------------------------- real Kerr microscope files

_HINT = re.compile(r"^(?P<name>[^{]*)\{(?P<hint>[^{}]*)\}$")


def _check_typed_chunks(path, metadata) -> int:
    """Every text chunk Pillow reads is in the metadata, typed by its ``{hint}``; returns how many were checked."""
    with Image.open(path) as picture:
        chunks = dict(picture.text)
    checked = 0
    for key, text in chunks.items():
        match = _HINT.match(key)
        name, hint = (match["name"], match["hint"]) if match else (key, None)
        value = metadata[name]
        if hint is None or hint == "String":
            assert value == text, name
        elif hint == "Boolean":
            assert text in ("True", "False"), name
            assert value is (text == "True"), name
        elif hint == "I32":
            assert type(value) is int and value == int(text), name
        elif hint == "Double Float":
            assert type(value) is float, name
            assert value == float(text) or (math.isnan(value) and math.isnan(float(text))), name
        else:
            continue
        checked += 1
    return checked


def _check_kerr_pixels(path):
    # the PNG reader itself (stonerimg.load picks the Kerr format for these: tests/formats/test_kerr.py)
    loaded = stonerimg.load(path, fmt="png")
    with Image.open(path) as picture:
        reference = np.asarray(picture)
    assert loaded.format == "png"
    assert loaded.dtype == np.uint16
    assert loaded.shape == reference.shape
    assert np.array_equal(loaded.data, reference)
    return loaded


def test_kermit(kerr_dir):
    path = kerr_dir / "kermit.png"
    loaded = _check_kerr_pixels(path)
    assert loaded.shape == (479, 359)
    assert _check_typed_chunks(path, loaded.metadata) > 40
    assert loaded.metadata["Background Images"] == 16


def test_im2_noannotations(kerr_dir):
    path = kerr_dir / "im2_noannotations.png"
    loaded = _check_kerr_pixels(path)
    assert loaded.shape == (512, 672)
    md = loaded.metadata
    assert_same_value(0.258186, md["MicronsPerPixel"], "MicronsPerPixel")
    assert_same_value(8, md["Images to Average"], "Images to Average")
    assert_same_value(False, md["AC"], "AC")
    assert_same_value(["Dev1/ao0", "Dev1/ao1"], md["BNC:Channel"], "BNC:Channel")
    assert_same_value("National Instruments IMAQ Vision 8.6.0", md["Version"], "Version")
    assert _check_typed_chunks(path, md) > 60


def test_kerr_fields(kerr_dir):
    paths = sorted((kerr_dir / "fields").glob("*.png"))
    assert len(paths) == 8
    fields = []
    for path in paths:
        loaded = _check_kerr_pixels(path)
        fields.append(int(re.search(r"field(\d+)", path.name)[1]))
        assert loaded.filename == str(path)
    assert fields == [235, 240, 245, 250, 255, 260, 265, 270]


def test_kerr_png_round_trips(kerr_dir, tmp_path):
    original = stonerimg.load(kerr_dir / "im2_noannotations.png")
    original.save(tmp_path / "copy.png")
    again = stonerimg.load(tmp_path / "copy.png")
    assert_same_pixels(original.data, again.data)
    assert_same_value(dict(original.metadata), dict(again.metadata), "metadata")


@pytest.mark.parametrize("whole", [True, False], ids=["one-read", "header-by-header"])
def test_chunk_table_is_walked_once_and_agrees_with_a_plain_parse(kerr_dir, tmp_path, monkeypatch, whole):
    """The chunk table a load shares (IDAT bytes, text heads) matches a plain walk of the file, read either way."""
    from stonerimg.formats import kerr, png

    if not whole:
        monkeypatch.setattr(png, "READ_WHOLE_BYTES", 0)
    path = sorted((kerr_dir / "fields").glob("*.png"))[0]
    raw = path.read_bytes()
    stored, texts, position = 0, [], 8
    while position + 8 <= len(raw):  # the PNG specification's layout: length, type, data, CRC
        length = int.from_bytes(raw[position : position + 4], "big")
        kind = raw[position + 4 : position + 8]
        if kind == b"IDAT":
            stored += length
        elif kind in (b"tEXt", b"iTXt", b"zTXt"):
            texts.append(raw[position + 8 : position + 8 + min(length, 256)])
        position += 12 + length
    source = png.PngSource(path)
    assert source.stored == stored > 0
    assert source.texts == texts and len(texts) > 40
    opened = []
    real = png.PngSource.__init__
    monkeypatch.setattr(png.PngSource, "__init__", lambda self, p: opened.append(p) or real(self, p))
    image = stonerimg.load(path)
    assert image.format == "kerr" and len(opened) == 1  # one walk serves the Kerr check and the size check
    with Image.open(path) as picture:
        assert np.array_equal(image.data, np.array(picture))
    assert kerr._has_kerr_chunks(path)
