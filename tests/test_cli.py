"""The ``stonerimg`` command: demo, formats and info."""

import numpy as np
import pytest
import tifffile
from PIL import Image

import stonerimg
from stonerimg.cli import main
from stonerimg.demo import TRUE_DRIFT


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "stonerimg-demo"
    status = main(["demo", "--out", str(out)])
    return status, out


def test_demo_writes_every_output(demo_run):
    status, out = demo_run
    assert status == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "raw_plus.tif",
            "raw_minus.tif",
            "xmcd.tif",
            "xmcd.npy",
            "xmcd.npy.json",
            "xmcd.png",
            "xmcd_figure.png",
        ]
    )


def test_demo_recovers_the_drift_and_the_xmcd_ratio(demo_run):
    _, out = demo_run
    plus = stonerimg.load(out / "raw_plus.tif")
    minus = stonerimg.load(out / "raw_minus.tif")
    assert plus["polarization"] == 1.0 and minus["polarization"] == -1.0
    xmcd = stonerimg.load(out / "xmcd.tif")
    found = xmcd["drift_shift"]
    # the shift that undoes the drift is minus the drift
    np.testing.assert_allclose([-found[0], -found[1]], TRUE_DRIFT, atol=0.3)
    # the ratio is bounded and carries the magnetic contrast (both signs present)
    values = np.asarray(xmcd.data)
    assert np.all(np.abs(values) < 1)
    assert values.min() < -0.1 and values.max() > 0.1
    # the TIFF on disk holds the same numbers (read independently with tifffile)
    np.testing.assert_array_equal(tifffile.imread(out / "xmcd.tif"), values)
    assert xmcd.calibration.x.units == "µm"


def test_demo_png_outputs_are_readable_images(demo_run):
    _, out = demo_run
    with Image.open(out / "xmcd_figure.png") as figure:
        assert figure.format == "PNG" and figure.size[0] > 400
    png = stonerimg.load(out / "xmcd.png")
    assert png.dtype == np.uint16 and png.data.max() == 65535 and png.data.min() == 0
    npy = stonerimg.load(out / "xmcd.npy")
    np.testing.assert_array_equal(np.load(out / "xmcd.npy"), npy.data)


def test_formats_lists_the_registry(capsys):
    assert main(["formats"]) == 0
    text = capsys.readouterr().out
    for name in ("tiff", "png", "npy"):
        assert name in text


def test_info_reports_files_and_failures(tmp_path, capsys):
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((3, 5)))
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["info", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "shape (3, 5)" in captured.out
    assert "bad.png" in captured.err and "png" in captured.err


def test_info_writes_calibration_and_key_facts_for_people(stxm_dir, capsys):
    path = stxm_dir / "Sample_Image_2017-10-15_100.hdf5"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pixel size 15 nm/px" in out and "0.015000000000000138" not in out
    assert "  energy: 781.493 eV" in out and "  dwell: 10 ms" in out


def test_info_escapes_control_characters_from_files(tmp_path, capsys):
    import json as _json

    hostile = {"title\x1b]0;owned\x07": "x\x1b[2J\x9b31m\u202etxt.exe", "multi\nline": "v"}
    path = tmp_path / "x.tif"
    stonerimg.ImageArray(np.zeros((2, 2), np.uint8), metadata=hostile).save(path)
    assert main(["info", "--all", str(path)]) == 0
    out = capsys.readouterr().out
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in out
    assert "title\\x1b]0;owned\\x07" in out and "multi\\nline" in out
    assert main(["info", "--json", "--all", str(path)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert {k: v for k, v in _json.loads(text)[0]["metadata"].items() if k in hostile} == hostile
    bad = tmp_path / "evil\x1b[2J.tif"
    bad.write_bytes(b"II*\x00garbage")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[2J.tif" in err
