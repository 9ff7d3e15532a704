"""The command line: info --json/--all, --process parsing and convert."""

import json

import numpy as np
import pytest
import tifffile

import stonerimg
from stonerimg.cli import main, parse_process


class TestParseProcess:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("crop(10)", ("crop", (10,), {})),
            ("crop(1, 3, None, None)", ("crop", (1, 3, None, None), {})),
            ("normalise(scale=(0, 1))", ("normalise", (), {"scale": (0, 1)})),
            (" asfloat ", ("asfloat", (), {})),
            ("filter_image(sigma=1.5)", ("filter_image", (), {"sigma": 1.5})),
        ],
    )
    def test_literal_calls(self, text, expected):
        assert parse_process(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "__import__('os').system('echo hi')",
            "crop(open('x'))",
            "os.system('x')",
            "not_a_function(1)",
            "crop(**{'copy': True})",
            "crop(10",
            "lambda: 1",
        ],
    )
    def test_anything_else_is_refused(self, text):
        with pytest.raises(ValueError, match="--process"):
            parse_process(text)


def test_info_json_and_all(tmp_path, capsys):
    path = tmp_path / "x.tif"
    stonerimg.ImageArray(np.zeros((3, 5), np.uint16), metadata={"energy": 706.8, "note": "n"}).save(path)
    assert main(["info", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["shape"] == [3, 5] and report[0]["dtype"] == "uint16" and report[0]["format"] == "tiff"
    assert report[0]["metadata"] == {"energy": 706.8}  # the key metadata only
    assert report[0]["calibration"]["x"]["units"] == "px"
    assert main(["info", "--json", "--all", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["metadata"]["note"] == "n"


def test_convert_rejects_a_bad_process_step(tmp_path, capsys):
    assert main(["convert", str(tmp_path), "-o", str(tmp_path / "out"), "--process", "os.system('x')"]) == 2
    assert "--process" in capsys.readouterr().err


def test_convert_folder_with_processing_and_a_failure(tmp_path, capsys):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for i in range(3):
        stonerimg.ImageArray(np.full((6, 8), i, np.uint16), metadata={"i": i}).save(source / f"f{i}.npy")
    stonerimg.ImageArray(np.ones((6, 8), np.uint16)).save(source / "sub" / "g.npy")
    (source / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    out = tmp_path / "out"
    status = main(
        ["convert", str(source), "-o", str(out), "--to", "tiff", "--recursive", "--quiet", "--process", "crop(1)"]
    )
    captured = capsys.readouterr()
    assert status == 1  # one file failed
    assert "broken.tif" in captured.err
    for i in range(3):
        data = tifffile.imread(out / f"f{i}.tif")
        np.testing.assert_array_equal(data, np.full((4, 6), i, np.uint16))
        converted = stonerimg.load(out / f"f{i}.tif")
        assert converted["i"] == i and converted["history"][-1] == "crop(1)"
    assert (out / "sub" / "g.tif").is_file()
    assert "converted" in captured.out


def test_a_3d_dm_file_is_described_and_converted_as_one_3d_image(dm_dir, tmp_path, capsys):
    source = dm_dir / "EELS_SI.dm4"
    image = stonerimg.load(source)
    assert type(image) is stonerimg.ImageFile and image.ndim == 3  # doc/formats.md: multi-frame files
    assert main(["info", "--json", str(source)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["class"] == "ImageFile" and report["shape"] == list(image.shape)
    assert report["calibration"]["x"]["scale"] == pytest.approx(image.image.calibration.x.scale)
    assert main(["convert", str(source), "-o", str(tmp_path), "--quiet"]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "EELS_SI.tif"), image.data)
    assert main(["convert", str(source), "-o", str(tmp_path / "npy"), "--to", "npy", "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "npy" / "EELS_SI.npy"), image.data)


def test_to_takes_any_format_that_saves_and_names_the_choices_otherwise(tmp_path, capsys):
    from stonerimg.formats import Format, register, unregister

    source = tmp_path / "in" / "a.npy"
    source.parent.mkdir()
    stonerimg.ImageArray(np.arange(4.0).reshape(2, 2)).save(source)

    def save_text(image, path, **kwargs):
        with stonerimg.formats.atomic_path(path) as temp:
            np.savetxt(temp, np.asarray(image.data))

    register(Format("plaintext", {".txt": 50}, load=lambda path, **kwargs: None, save=save_text))
    try:
        assert main(["convert", str(source.parent), "-o", str(tmp_path / "out"), "--to", "plaintext", "--quiet"]) == 0
    finally:
        unregister("plaintext")
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "out" / "a.txt"), np.arange(4.0).reshape(2, 2))
    assert main(["convert", str(source.parent), "-o", str(tmp_path / "x"), "--to", "jpeg2000"]) == 2
    err = capsys.readouterr().err
    assert "jpeg2000" in err and "tiff" in err and not (tmp_path / "x").exists()
