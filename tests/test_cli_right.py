"""The command line (issue 13): python -m, --version, one-line errors, quiet logs, bars only on terminals."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import tifffile

import stonerimg
from stonerimg import ImageArray


def run(*args, cwd=None):
    """The real command in a fresh interpreter, stdout and stderr captured (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "stonerimg", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def _one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_python_m_and_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"stonerimg {stonerimg.__version__}"


def test_convert_to_an_existing_file_is_one_line(tmp_path):
    ImageArray(np.zeros((3, 3))).save(tmp_path / "a.npy")
    (tmp_path / "out.tif").write_bytes(b"x")
    _one_line_error(run("convert", tmp_path / "a.npy", "-o", tmp_path / "out.tif"), "out.tif")


def test_demo_into_an_unwritable_path_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    _one_line_error(run("demo", "--out", tmp_path / "file" / "demo"), str(tmp_path / "file"))


def test_info_of_a_missing_file_is_one_line(tmp_path):
    _one_line_error(run("info", tmp_path / "missing.tif"), "missing.tif")


def _bad_tiff(path):
    """A TIFF whose Software tag and pixel offset point past the end: tifffile logs, then reading fails."""
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8), software="x" * 50)
    raw = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", raw[4:8])[0]
    for i in range(struct.unpack("<H", raw[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", raw[entry : entry + 2])[0] in (273, 305):
            raw[entry + 8 : entry + 12] = struct.pack("<I", 10**6)
    path.write_bytes(bytes(raw))
    return path


def test_third_party_logging_is_silent_and_becomes_the_reason(tmp_path):
    path = _bad_tiff(tmp_path / "bad.tif")
    result = run("info", path)
    _one_line_error(result, "bad.tif", "tifffile: <TiffTag.fromfile> raised")
    assert "ERROR" not in result.stderr  # no log line of tifffile's own
    verbose = run("--verbose", "info", path)
    assert "tifffile" in verbose.stderr and "ERROR" in verbose.stderr


def test_no_progress_bar_when_stderr_is_not_a_terminal_and_warnings_once_per_kind(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(25):  # more than the progress threshold
        ImageArray(np.full((4, 4), 2.0 + i)).save(source / f"f{i:02d}.npy")
    result = run("convert", source, "-o", tmp_path / "out", "--to", "tiff", "--process", "asint")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr  # no bar lines in a redirected log
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # one line per kind of warning, naming the files (floats outside [0, 1] clipped, precision loss)
    assert len(lines) == len({line.split(" (")[0] for line in lines}) >= 1
    assert any("outside [0, 1]" in line and "25 files" in line and "f00.npy" in line for line in lines), lines


def test_formats_table_columns_line_up():
    result = run("formats")
    assert result.returncode == 0
    lines = result.stdout.rstrip("\n").splitlines()
    header = lines[0]
    starts = [header.index(name) for name in ("extensions", "saves", "lazy", "description")]
    for line in lines[1:]:
        for start in starts:
            assert line[start - 2 : start] == "  " and line[start] != " ", (line, start)


def test_info_reads_a_live_recording(tmp_path):
    record = tmp_path / "rec.h5"
    live = run(
        "live", "--simulate", "32x24", "--process", "mean", "--process", "line_profile", "--duration", "0.5",
        "--record", record,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    result = run("info", record)
    assert result.returncode == 0, result.stderr
    assert "stonerimg live recording of SimulatedCamera" in result.stdout
    assert "mean" in result.stdout and "line_profile" in result.stdout
    described = json.loads(run("info", "--json", record).stdout)[0]
    import h5py

    with h5py.File(record, "r") as handle:  # the independent reference: the file itself
        assert described["frames"] == int(handle.attrs["frames"])
        assert described["processors"]["line_profile"]["datasets"]["rows"] == list(handle["line_profile/rows"].shape)


@pytest.mark.parametrize("argv", [["info"], ["convert", "x"], ["nosuchcommand"]])
def test_argument_mistakes_exit_2_without_traceback(argv):
    result = run(*argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr
