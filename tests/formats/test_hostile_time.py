"""Small files that used to burn CPU or block: each now ends within seconds (in a capped child process).

The contract is the one of the issue: a load answers (an image or a ``FormatError``)
within a few seconds, under a 2 GiB address-space cap; the child's time limit makes a
regression fail this test instead of hanging the run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError
from stonerimg.cli import main

from . import hostile


def test_groups_linked_twice_are_walked_once(tmp_path):
    pytest.importorskip("h5py")
    path = hostile.hdf5_double_linked_groups(tmp_path, depth=40)  # 2**40 paths, 41 groups
    code = f"import stonerimg\nim = stonerimg.load({str(path)!r})\nprint(im.shape, len(im.metadata))"
    result = hostile.run_capped(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("(4, 4)")


def test_maximus_repeated_names_are_renamed_in_linear_time(tmp_path):
    header = tmp_path / "repeats.hdr"
    header.write_text(hostile.maximus_repeated_names(tmp_path))
    code = (
        "from stonerimg.formats.maximus import parse_hdr\n"
        f"d = parse_hdr(open({str(header)!r}).read())\n"
        "print(len(d), list(d)[:3], list(d)[-1])"
    )
    result = hostile.run_capped(code, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "100000"
    assert "'Item#2'" in result.stdout and "Item#100000" in result.stdout


def test_png_literals_are_parsed_once_and_within_a_budget(tmp_path):
    path = hostile.png_long_literals(tmp_path)
    assert path.stat().st_size < 2 << 20
    code = (
        "import stonerimg\n"
        f"md = stonerimg.load({str(path)!r}).metadata\n"
        "print(sum(isinstance(v, list) for k, v in md.items() if k.startswith('value')),"
        " sum(isinstance(v, str) for k, v in md.items() if k.startswith('value')))"
    )
    result = hostile.run_capped(code, timeout=60)
    assert result.returncode == 0, result.stderr
    parsed, kept = map(int, result.stdout.split())
    assert parsed == 1 and kept == 39  # one literal fits the 1 M character budget; the rest stay text


def test_png_that_is_not_kerr_is_declined_from_its_chunk_headers(tmp_path, monkeypatch):
    from stonerimg.formats import kerr, png

    path = hostile.png_long_literals(tmp_path, count=2, size=1000)
    calls = []
    real = png.typed_text_metadata
    monkeypatch.setattr(png, "typed_text_metadata", lambda items: calls.append(1) or real(items))
    document = stonerimg.load(path)
    assert document.format == "png" and len(calls) == 1
    assert not kerr._has_kerr_chunks(path)


def test_damaged_dm_is_not_retried_through_rosettasciio(tmp_path):
    pytest.importorskip("rsciio")
    path = hostile.dm_damaged(tmp_path)
    with pytest.raises(FormatError, match="damaged DM file") as info:
        stonerimg.load(path)
    assert [name for name, _ in info.value.attempts] == ["dm"]
    with pytest.raises(FormatError):  # the slower reader is still there when asked for by name
        stonerimg.load(path, fmt="digitalmicrograph")


@pytest.mark.parametrize("call", ["load", "open"])
def test_a_fifo_is_refused_up_front(tmp_path, call):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    code = (
        "import stonerimg\n"
        "try:\n"
        f"    stonerimg.{call}({str(fifo)!r})\n"
        "except stonerimg.FormatError as err:\n"
        "    print(err)\n"
    )
    result = hostile.run_capped(code, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "it is a FIFO, not a regular file" in result.stdout


def test_info_on_a_fifo_reports_it(tmp_path, capsys):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    good = tmp_path / "good.tif"
    stonerimg.ImageArray(np.zeros((2, 2), np.uint8)).save(good)
    assert main(["info", str(fifo), str(good)]) == 1
    captured = capsys.readouterr()
    assert "FIFO" in captured.err and "good.tif" in captured.out
