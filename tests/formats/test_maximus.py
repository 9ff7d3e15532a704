"""MAXYMUS (BESSY II) STXM scans: the .hdr parser, the sniffer, loading real and synthetic scans, bad input."""

from __future__ import annotations

import datetime as dt
import math
import shutil

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, formats
from stonerimg.formats.maximus import HdrSyntaxError, flatten_header, parse_hdr, sniff
from stonerimg.metadata import Metadata

from .helpers import sha256

SCAN = "MPI_210127021"


# --------------------------------------------------------------------------- fixtures and references


@pytest.fixture(scope="module")
def scan_dir(sample_data):
    folder = sample_data / "maximus" / SCAN
    if not (folder / f"{SCAN}.hdr").is_file():
        pytest.skip(f"no MAXYMUS scan {SCAN} in {sample_data}")
    return folder


@pytest.fixture
def scan_copy(scan_dir, tmp_path):
    """A writable copy of the real scan (header and both images)."""
    for path in scan_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _header_text(folder) -> str:
    return (folder / f"{SCAN}.hdr").read_text()


def _points_after(text: str, marker: str) -> tuple[int, np.ndarray]:
    """``(count, values)`` of the first ``Points = (n, ...)`` after ``marker``, read with plain string splitting."""
    start = text.index("Points = (", text.index(marker)) + len("Points = (")
    fields = text[start : text.index(")", start)].split(",")
    return int(fields[0]), np.array([float(v) for v in fields[1:]])


def _value_on_line(text: str, line_start: str, name: str) -> str:
    line = next(line for line in text.splitlines() if line.lstrip().startswith(line_start))
    return line.split(f"{name} =")[1].split(";")[0].strip()


def _xim(folder, number: int) -> np.ndarray:
    """An image read independently of stonerimg, in file order (row 0 = first line = lowest y)."""
    return np.loadtxt(folder / f"{SCAN}_a{number:03d}.xim")


# --------------------------------------------------------------------------- synthetic scans


def _numbers(values) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _axis(tag: str, name: str, unit: str, points, indent: str = "\t\t\t") -> str:
    points = list(points)
    return (
        f'{indent}{tag} = {{ Name = "{name}"; Unit = "{unit}"; Min = {min(points)}; Max = {max(points)}; Dir = 1;\r\n'
        f"{indent}\tPoints = ({len(points)}, {_numbers(points)});\r\n}};\r\n"
    )


def write_scan(
    folder,
    stem="SYN_000000001",
    *,
    regions=None,
    stack=None,
    stack_unit="eV",
    stage=None,
    image_energies=None,
    channels=("APD",),
    images=None,
    monochromator=700.5,
):
    """Write a small MAXYMUS scan in the instrument's layout; return the header path and the images written.

    ``regions`` holds ``(x_points, y_points)`` per region; the images are random
    tables in file order (one line per y point), keyed by file name.
    """
    if regions is None:
        regions = ((np.arange(4) * 0.5 - 10.0, np.arange(3) * 0.25 + 20.0),)
    rng = np.random.default_rng(7)
    region_text = ",\r\n".join(
        "{\r\n" + _axis("PAxis", "Sample X", "um", x) + "\r\n" + _axis("QAxis", "Sample Y", "um", y) + "}"
        for x, y in regions
    )
    text = (
        f'\r\nScanDefinition = {{ Label = "{stem}.hdr"; Type = "NEXAFS Image Scan"; Flags = "Image"; Dwell = 1.5;\r\n'
    )
    text += f"\tRegions = ({len(regions)},\r\n{region_text});\r\n"
    if stack is not None:
        text += "\r\n" + _axis("StackAxis", "Energy", stack_unit, stack, indent="\t")
    channel_text = ",\r\n".join(f'{{ Name = "{c}"; Unit = "counts";}}' for c in channels)
    text += f"\r\n\tChannels = ({len(channels)},\r\n{channel_text});\r\n}};\r\n"
    text += ' Time = "2020 November 07 01:47:18"; BeamFeedback = false; ShutterAutomatic = true;\r\n'
    if monochromator is not None:
        text += f'\r\nMonochromator = {{ Name = "Energy"; LastPosition = {monochromator}; Status = 0;}};\r\n'
    scan_line = f'ScanningStage = "{stage}"; ' if stage else ""
    text += f'ImageScan = {{ ScanType = "Image"; {scan_line}SingleEnergy = false;}};\r\n'
    for number, energy in enumerate(image_energies or []):
        text += f'Image{number} = {{StorageRingCurrent = 250.5; Energy = {energy}; Time = "2020 November 07";}};\r\n'
    hdr = folder / f"{stem}.hdr"
    hdr.write_bytes(text.encode("ascii"))
    written = {}
    n_stack = 1 if stack is None else len(stack)
    for c, _ in enumerate(channels):
        letter = chr(ord("a") + c)
        for r, (x, y) in enumerate(regions):
            for k in range(n_stack):
                if len(regions) > 1:
                    name = f"{stem}_{letter}{r}.xim"
                elif n_stack > 1:
                    name = f"{stem}_{letter}{k:03d}.xim"
                else:
                    name = f"{stem}_{letter}.xim"
                if images is not None and name not in images:
                    continue
                table = rng.integers(0, 60000, size=(len(y), len(x))).astype(float)
                (folder / name).write_bytes(
                    "".join("\t".join(str(int(v)) for v in row) + "\t\r\n" for row in table).encode("ascii")
                )
                written[name] = table
    return hdr, written


# --------------------------------------------------------------------------- the parser


def test_parse_nested_groups_tuples_and_order():
    text = (
        'Scan = { Label = "x"; Regions = (2,\n{ PAxis = { N = 1; }; },\n{ PAxis = { N = 2; }; }); '
        "Nested = (2, (1, 5), (0)); Empty = {}; };\nTail = 3;"
    )
    parsed = parse_hdr(text)
    assert parsed == {
        "Scan": {
            "Label": "x",
            "Regions": [{"PAxis": {"N": 1}}, {"PAxis": {"N": 2}}],
            "Nested": [[5], []],
            "Empty": {},
        },
        "Tail": 3,
    }
    assert list(parsed["Scan"]) == ["Label", "Regions", "Nested", "Empty"]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("42", 42),
        ("+7", 7),
        ("-2", -2),
        ("-75.523", -75.523),
        ("2680.228", 2680.228),
        ("1e3", 1000.0),
        ("-2.5E-3", -0.0025),
        (".5", 0.5),
        ("6.", 6.0),
        ("1.#INF", math.inf),
        ("-1.#INF", -math.inf),
    ],
)
def test_parse_numbers(literal, expected):
    value = parse_hdr(f"A = {literal};\nB = ({1}, {literal});")
    assert type(value["A"]) is type(expected)
    assert value["A"] == expected
    assert value["B"] == [expected]


@pytest.mark.parametrize("literal", ["1.#QNAN", "-1.#IND00", "1.#SNAN"])
def test_parse_windows_nan(literal):
    value = parse_hdr(f"A = {literal};")["A"]
    assert isinstance(value, float)
    assert math.isnan(value)


def test_parse_strings_keep_their_text():
    text = 'A = "two words; with = signs, {braces} and (parens)"; B = ""; C = "C:\\data\\scan"; D = "a\r\nb";'
    assert parse_hdr(text) == {
        "A": "two words; with = signs, {braces} and (parens)",
        "B": "",
        "C": "C:\\data\\scan",
        "D": "a\r\nb",
    }


def test_parse_words_and_booleans():
    parsed = parse_hdr("A = true; B = false; C = FALSE; D = Automatic; E = __import__;")
    assert parsed == {"A": True, "B": False, "C": False, "D": "Automatic", "E": "__import__"}
    assert type(parsed["A"]) is bool


def test_parse_repeated_names_keep_every_value():
    parsed = parse_hdr("A = 1; B = { C = 1; C = 2; C = 3; }; A = 2;")
    assert parsed == {"A": 1, "B": {"C": 1, "C#2": 2, "C#3": 3}, "A#2": 2}


def test_parse_last_item_of_group_may_omit_semicolon():
    assert parse_hdr("G = { A = 1; B = 2 };") == {"G": {"A": 1, "B": 2}}


def test_parse_empty_and_blank_text():
    assert parse_hdr("") == {}
    assert parse_hdr(" \r\n\t") == {}


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("A = 1", 1, 6, "expected ';' after the value of 'A'"),
        ("A = 1;\r\nB = {\r\n  C = 2\r\n  D = 3;};", 4, 3, "expected ';' after the value of 'C', found 'D'"),
        ("A = 1;\nB = { C = 2;", 2, 13, "group opened with '{' at line 2, column 5 is not closed"),
        ("A = (3, 1, 2);", 1, 5, "declares 3 values but holds 2"),
        ("A = (1, 1, 2);", 1, 5, "declares 1 value but holds 2"),
        ("A = (2, 1, 2", 1, 13, "tuple 'A' opened with '(' at line 1, column 5 is not closed"),
        ("A = (x, 1);", 1, 6, "must start with its number of values, found 'x'"),
        ("A = (1.5, 1);", 1, 6, "must start with its number of values, found 1.5"),
        ("A = (-1);", 1, 6, "must start with its number of values"),
        ("A = (2, 1 2);", 1, 11, "expected ',' or ')'"),
        ("A = (1, 1,);", 1, 11, "expected a value for 'A', found ')'"),
        ('\n\nA = "abc;', 3, 5, "string opened with '\"' at line 3, column 5 is not closed"),
        ("A 1;", 1, 3, "expected '=' after 'A', found '1'"),
        ("A = ;", 1, 5, "expected a value for 'A', found ';'"),
        ("A = 1.2.3;", 1, 5, "malformed number '1.2.3'"),
        ("A = 12abc;", 1, 5, "malformed number '12abc'"),
        ("A = -;", 1, 5, "malformed number '-'"),
        ("= 1;", 1, 1, "expected a name, found '='"),
        ("A = 1;\n}", 2, 1, "expected a name, found '}'"),
        ("A = { 1 = 2; };", 1, 7, "expected a name or '}', found '1'"),
        ("A = 1; @", 1, 8, "expected a name, found '@'"),
    ],
)
def test_parse_errors_say_where(text, line, column, fragment):
    with pytest.raises(HdrSyntaxError) as info:
        parse_hdr(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.line, err.column) == (line, column)
    assert fragment in str(err)
    assert str(err).startswith(f"line {line}, column {column}: ")


def test_parse_deep_nesting_is_a_syntax_error_not_a_recursion_error():
    depth = 5000
    with pytest.raises(HdrSyntaxError, match="nested more than"):
        parse_hdr("A = " + "{ B = " * depth + "1;" + "};" * depth)
    with pytest.raises(HdrSyntaxError, match="nested more than"):
        parse_hdr("A = " + "(1, " * depth + "1" + ")" * depth + ";")


def test_parse_rejects_bytes():
    with pytest.raises(TypeError, match="str"):
        parse_hdr(b"A = 1;")


def test_parse_real_header(scan_dir):
    text = _header_text(scan_dir)
    header = parse_hdr(text)
    assert list(header)[:4] == ["ScanDefinition", "Time", "BeamFeedback", "ShutterAutomatic"]
    region = header["ScanDefinition"]["Regions"][0]
    for axis, marker in (("PAxis", "PAxis = {"), ("QAxis", "QAxis = {")):
        count, values = _points_after(text, marker)
        assert len(region[axis]["Points"]) == count == 150
        np.testing.assert_array_equal(region[axis]["Points"], values)
    assert region["PAxis"]["Name"] == "Sample X"
    assert header["ScanDefinition"]["Channels"] == [{"Name": "APD", "Unit": "counts"}]
    assert header["Channels"][0]["ProcessString"] == "I"
    assert header["Monochromator"]["LastPosition"] == float(_value_on_line(text, "Monochromator", "LastPosition"))
    assert header["ImageScan"]["SpatialRegions"][0]["SquareRegion"] is True
    assert header["StorageRingCurrent"] == 297


def test_parse_every_truncation_fails_cleanly_or_parses(scan_dir):
    text = _header_text(scan_dir)
    complete = parse_hdr(text)
    for end in range(0, len(text), 23):
        try:
            parsed = parse_hdr(text[:end])
        except HdrSyntaxError as err:
            assert 1 <= err.line <= text[:end].count("\n") + 1
            assert 0 <= err.offset <= end
        else:  # a cut between two top-level items leaves a shorter but valid header
            assert list(parsed) == list(complete)[: len(parsed)]


def test_flatten_header_keys_and_types(scan_dir):
    flat = flatten_header(parse_hdr(_header_text(scan_dir)))
    points = flat["ScanDefinition.Regions.0.PAxis.Points"]
    assert isinstance(points, np.ndarray) and points.dtype == np.float64 and points.shape == (150,)
    assert flat["ScanDefinition.Regions.0.QAxis.Unit"] == "um"
    assert flat["ScanDefinition.Channels.0.Name"] == "APD"
    assert flat["Channels.0.ID"] == 2
    assert flat["ImageScan.EnergyRegions.0.Points"] == 2
    assert not any(isinstance(v, (dict, list)) and v for v in flat.values())
    small = flatten_header({"A": [1, 2], "B": ["x", True], "C": [], "D": {}, "E": [[1.5], {"F": 2}]}, "top")
    assert sorted(small) == ["top.A", "top.B", "top.C", "top.D", "top.E.0", "top.E.1.F"]
    assert small["top.A"].dtype == np.int64 and small["top.A"].tolist() == [1, 2]
    assert small["top.E.0"].dtype == np.float64 and small["top.E.0"].tolist() == [1.5]
    assert (small["top.B"], small["top.C"], small["top.D"], small["top.E.1.F"]) == (["x", True], [], {}, 2)


# --------------------------------------------------------------------------- sniff and the registry


def test_sniff(scan_dir):
    assert sniff((scan_dir / f"{SCAN}.hdr").read_bytes()[:512])
    assert sniff((scan_dir / f"{SCAN}_a000.xim").read_bytes()[:512])
    assert sniff(b"\xef\xbb\xbf  \r\nScanDefinition={")
    assert sniff(b"ScanDefinition =")  # the head may end there
    for head in [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"II*\x00",
        b"ENVI\nsamples = 5\n",
        b"ScanDefinitions = {",
        b"ScanDefinition : {",
        b"just some text",
        b"1 2 3\n4 5 6\n",  # numbers but no tab
        b"9638\t9654\thello\r\n",
    ]:
        assert not sniff(head), head


def test_candidates_pick_maximus(scan_dir):
    for name in (f"{SCAN}.hdr", f"{SCAN}_a000.xim"):
        path = scan_dir / name
        assert [f.name for f in formats.candidates(path, path.read_bytes()[:512])][0] == "maximus"
    assert "maximus" not in [f.name for f in formats.candidates("x.hdr", b"ENVI\nsamples = 5\n")]


# --------------------------------------------------------------------------- the real scan


def test_load_header_gives_the_stack(scan_dir):
    doc = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    assert doc.format == "maximus"
    assert type(doc) is stonerimg.ImageFile
    assert doc.shape == (2, 150, 150)
    assert doc.dtype == np.float64
    for number in range(2):
        np.testing.assert_array_equal(doc.data[number], _xim(scan_dir, number)[::-1])
    assert not np.array_equal(doc.data[0], doc.data[1])
    assert doc["maximus.files"] == [f"{SCAN}_a000.xim", f"{SCAN}_a001.xim"]
    assert doc.data.flags.c_contiguous


def test_orientation_row_zero_is_highest_y(scan_dir):
    """Stoner's MAXYMUS loader turns the file over (genfromtxt(x)[::-1]): row 0 is the last line, the highest y."""
    text = _header_text(scan_dir)
    _, ys = _points_after(text, "QAxis = {")
    _, xs = _points_after(text, "PAxis = {")
    assert ys[-1] > ys[0]  # the file's lines run up the y stage
    doc = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    np.testing.assert_array_equal(doc.data[0, 0], _xim(scan_dir, 0)[-1])
    np.testing.assert_array_equal(doc.data[0, -1], _xim(scan_dir, 0)[0])
    np.testing.assert_array_equal(doc.data[0, :, 0], _xim(scan_dir, 0)[::-1, 0])
    cal = doc.calibration
    # physical = offset + scale * pixel reproduces every stage position (points are rounded to 0.001 um)
    np.testing.assert_allclose(cal.y.to_physical(np.arange(150)), ys[::-1], atol=5e-4)
    np.testing.assert_allclose(cal.x.to_physical(np.arange(150)), xs, atol=5e-4)
    left, right, bottom, top = doc.image.extent
    assert left < right and bottom < top
    assert bottom < ys[0] < ys[-1] < top


def test_calibration_from_header_points(scan_dir):
    text = _header_text(scan_dir)
    doc = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    n, xs = _points_after(text, "PAxis = {")
    _, ys = _points_after(text, "QAxis = {")
    assert doc["calibration.x.scale"] == pytest.approx((xs.max() - xs.min()) / (n - 1), rel=1e-4)
    assert doc["calibration.y.scale"] == pytest.approx(-(ys.max() - ys.min()) / (len(ys) - 1), rel=1e-4)
    assert doc["calibration.x.offset"] == pytest.approx(xs.min(), abs=5e-4)
    assert doc["calibration.y.offset"] == pytest.approx(ys.max(), abs=5e-4)
    assert doc["calibration.x.units"] == doc["calibration.y.units"] == "µm"
    # the field of view is Max - Min = 5 um over 150 pixels: the fit through the rounded points finds that pitch
    for axis, line in (("x", "PAxis"), ("y", "QAxis")):
        width = float(_value_on_line(text, line, "Max")) - float(_value_on_line(text, line, "Min"))
        assert abs(doc[f"calibration.{axis}.scale"]) == pytest.approx(width / 150, rel=1e-5)
    # the header's own step (XStep = 0.0333) agrees
    step = float(_value_on_line(text, "{ CentreXPos", "XStep"))
    assert doc["calibration.x.scale"] == pytest.approx(step, abs=1e-4)


def test_energy_and_stack_axis(scan_dir):
    """This stack steps the magnet field (ImageScan.ScanningStage), so the energy is the monochromator's."""
    text = _header_text(scan_dir)
    mono = float(_value_on_line(text, "Monochromator", "LastPosition"))
    _, stack = _points_after(text, "StackAxis = {")
    doc = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    energy = doc["energy"]
    assert isinstance(energy, np.ndarray) and energy.shape == (2,)
    np.testing.assert_array_equal(energy, [mono, mono])
    assert doc["maximus.energy_source"] == "Monochromator.LastPosition"
    assert doc["stack.axis"] == _value_on_line(text, "ImageScan", "ScanningStage").strip('"') == "MagnetField"
    np.testing.assert_array_equal(doc["stack.value"], stack)
    np.testing.assert_array_equal(doc["stack.index"], [0, 1])


def test_metadata_items_and_types(scan_dir):
    doc = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    md = doc.metadata
    assert md["ScanDefinition.Type"] == "NEXAFS Image Scan"
    assert md["ScanDefinition.Regions.0.PAxis.Name"] == "Sample X"
    assert md["ScanDefinition.Regions.0.QAxis.Name"] == "Sample Y"
    assert md["ScanDefinition.Regions.0.PAxis.Points"].shape == (150,)
    assert type(md["ScanDefinition.Dwell"]) is float and md["dwell"] == 2.601
    assert type(md["StorageRingCurrent"]) is int and md["StorageRingCurrent"] == 297
    assert md["BeamFeedback"] is False and md["ShutterAutomatic"] is True
    assert md["ImageScan.SpatialRegions.0.XPoints"] == 150
    assert md["SampleFineX.Name"] == "SampleX"
    assert md["datetime"] == dt.datetime(2021, 1, 27, 15, 14, 38)
    assert md["channel.name"] == "APD" and md["channel.units"] == "counts"
    assert md["instrument"] == "MAXYMUS"
    assert md["maximus.header"] == f"{SCAN}.hdr"
    assert all(isinstance(k, str) for k in md)
    assert Metadata.from_json(md.to_json()) == md  # every value survives saving


def test_index_selects_one_image(scan_dir):
    hdr = scan_dir / f"{SCAN}.hdr"
    stack = stonerimg.load(hdr)
    for kwargs in ({"index": 1}, {"energy_index": 1}, {"index": -1}):
        one = stonerimg.load(hdr, **kwargs)
        assert one.shape == (150, 150)
        np.testing.assert_array_equal(one.data, stack.data[1])
        assert one["energy"] == stack["energy"][1] and isinstance(one["energy"], float)
        assert one["stack.value"] == -1.0 and one["stack.index"] == 1
        assert one["maximus.files"] == [f"{SCAN}_a001.xim"]
    first = stonerimg.load(hdr, index=0)
    np.testing.assert_array_equal(first.data, _xim(scan_dir, 0)[::-1])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"index": 2}, "out of range"),
        ({"index": -3}, "out of range"),
        ({"index": 1, "energy_index": 1}, "not both"),
        ({"index": 1.0}, "must be an int"),
        ({"channel": "PMT"}, "no channel named 'PMT'"),
        ({"channel": 1}, "1 channel"),
        ({"region": 1}, "out of range"),
    ],
)
def test_bad_options_are_reported(scan_dir, kwargs, fragment):
    with pytest.raises(FormatError) as info:
        stonerimg.load(scan_dir / f"{SCAN}.hdr", **kwargs)
    assert fragment in str(info.value)
    assert f"{SCAN}.hdr" in str(info.value)


def test_unknown_option_is_a_type_error_naming_the_format_and_its_options(scan_dir):
    with pytest.raises(TypeError) as info:
        stonerimg.load(scan_dir / f"{SCAN}.hdr", chanel=0)
    message = str(info.value)
    assert "'chanel'" in message and "'maximus'" in message and f"{SCAN}.hdr" in message
    assert "index, energy_index, region, channel" in message and "did you mean 'chanel' -> 'channel'" in message


def test_load_one_xim_with_its_header(scan_dir):
    doc = stonerimg.load(scan_dir / f"{SCAN}_a001.xim")
    stack = stonerimg.load(scan_dir / f"{SCAN}.hdr")
    assert doc.format == "maximus"
    assert doc.shape == (150, 150)
    np.testing.assert_array_equal(doc.data, _xim(scan_dir, 1)[::-1])
    assert doc["energy"] == float(_value_on_line(_header_text(scan_dir), "Monochromator", "LastPosition"))
    assert doc["stack.index"] == 1 and doc["stack.value"] == -1.0
    assert doc.calibration == stack.calibration
    assert doc["ScanDefinition.Label"] == f"{SCAN}.hdr"
    assert doc["maximus.files"] == [f"{SCAN}_a001.xim"]
    with pytest.raises(FormatError, match="load its .hdr file"):
        stonerimg.load(scan_dir / f"{SCAN}_a001.xim", index=0)


def test_loading_changes_no_file(scan_dir):
    before = {p.name: sha256(p) for p in scan_dir.iterdir()}
    stonerimg.load(scan_dir / f"{SCAN}.hdr")
    stonerimg.load(scan_dir / f"{SCAN}_a000.xim")
    assert {p.name: sha256(p) for p in scan_dir.iterdir()} == before


def test_xim_without_header_loads_bare_with_a_note(scan_dir, tmp_path):
    shutil.copy(scan_dir / f"{SCAN}_a000.xim", tmp_path)
    doc = stonerimg.load(tmp_path / f"{SCAN}_a000.xim")
    assert doc.shape == (150, 150)
    np.testing.assert_array_equal(doc.data, _xim(scan_dir, 0)[::-1])
    assert f"{SCAN}.hdr" in doc["maximus.note"]
    assert not any(k.startswith(("calibration.", "energy", "ScanDefinition")) for k in doc.metadata)


def test_partial_stack_loads_what_is_there(scan_copy):
    (scan_copy / f"{SCAN}_a001.xim").unlink()
    doc = stonerimg.load(scan_copy / f"{SCAN}.hdr")
    assert doc.shape == (1, 150, 150)
    np.testing.assert_array_equal(doc.data[0], _xim(scan_copy, 0)[::-1])
    assert doc["maximus.missing"] == [f"{SCAN}_a001.xim"]
    assert doc["energy"].shape == (1,)


def test_header_without_images_is_file_not_found(scan_copy):
    for path in scan_copy.glob("*.xim"):
        path.unlink()
    with pytest.raises(FileNotFoundError) as info:
        stonerimg.load(scan_copy / f"{SCAN}.hdr")
    assert info.value.filename.endswith(f"{SCAN}_a000.xim")


# --------------------------------------------------------------------------- synthetic scans


def test_synthetic_energy_stack_non_square(tmp_path):
    energies = [705.0, 707.5, 710.0]
    xs, ys = np.arange(4) * 0.5 - 10.0, np.arange(3) * 0.25 + 20.0
    hdr, written = write_scan(tmp_path, regions=((xs, ys),), stack=energies)
    doc = stonerimg.load(hdr)
    assert doc.shape == (3, 3, 4)
    assert doc.image.geometry == (4, 3, 3)
    for k in range(3):
        np.testing.assert_array_equal(doc.data[k], written[f"SYN_000000001_a{k:03d}.xim"][::-1])
    np.testing.assert_array_equal(doc["energy"], energies)
    assert doc["maximus.energy_source"] == "ScanDefinition.StackAxis.Points"
    assert doc["stack.axis"] == "Energy" and doc["stack.units"] == "eV"
    assert doc["calibration.x.scale"] == pytest.approx(0.5) and doc["calibration.x.offset"] == pytest.approx(-10.0)
    assert doc["calibration.y.scale"] == pytest.approx(-0.25) and doc["calibration.y.offset"] == pytest.approx(20.5)
    assert doc["dwell"] == 1.5
    assert doc["datetime"] == dt.datetime(2020, 11, 7, 1, 47, 18)
    one = stonerimg.load(tmp_path / "SYN_000000001_a002.xim")
    assert one["energy"] == 710.0 and one.shape == (3, 4)


def test_synthetic_per_image_energies_win(tmp_path):
    hdr, _ = write_scan(tmp_path, stack=[-2.0, -1.0], stack_unit="", stage="MagnetField", image_energies=[707.1, 707.2])
    doc = stonerimg.load(hdr)
    np.testing.assert_array_equal(doc["energy"], [707.1, 707.2])
    assert doc["maximus.energy_source"] == "Image<n>.Energy"
    np.testing.assert_array_equal(doc["stack.value"], [-2.0, -1.0])
    assert doc["stack.axis"] == "MagnetField"


def test_synthetic_no_energy_anywhere(tmp_path):
    hdr, _ = write_scan(tmp_path, stack=[1.0, 2.0], stack_unit="mT", stage="MagnetField", monochromator=None)
    doc = stonerimg.load(hdr)
    assert "energy" not in doc.metadata and "maximus.energy_source" not in doc.metadata


def test_synthetic_single_image_is_2d(tmp_path):
    hdr, written = write_scan(tmp_path, stack=[709.5])
    doc = stonerimg.load(hdr)
    assert doc.shape == (3, 4)
    np.testing.assert_array_equal(doc.data, written["SYN_000000001_a.xim"][::-1])
    assert doc["energy"] == 709.5 and isinstance(doc["energy"], float)
    same = stonerimg.load(tmp_path / "SYN_000000001_a.xim")
    np.testing.assert_array_equal(same.data, doc.data)
    assert same["energy"] == 709.5


def test_synthetic_descending_axes_follow_the_header(tmp_path):
    """Lines that run down the y stage are not turned over; columns that run down x are."""
    xs, ys = 5.0 - np.arange(4) * 0.5, 9.0 - np.arange(3)
    hdr, written = write_scan(tmp_path, regions=((xs, ys),))
    doc = stonerimg.load(hdr)
    np.testing.assert_array_equal(doc.data, written["SYN_000000001_a.xim"][:, ::-1])
    np.testing.assert_allclose(doc.calibration.y.to_physical(np.arange(3)), ys)
    np.testing.assert_allclose(doc.calibration.x.to_physical(np.arange(4)), xs[::-1])


def test_synthetic_regions_and_channels(tmp_path):
    regions = ((np.arange(4) * 0.5, np.arange(3) * 0.5), (np.arange(2) + 100.0, np.arange(5) + 200.0))
    hdr, written = write_scan(tmp_path, regions=regions, channels=("APD", "PMT"))
    doc = stonerimg.load(hdr, region=1, channel="PMT")
    assert doc.shape == (5, 2)
    np.testing.assert_array_equal(doc.data, written["SYN_000000001_b1.xim"][::-1])
    assert doc["calibration.x.offset"] == 100.0 and doc["channel.name"] == "PMT"
    first = stonerimg.load(hdr)
    np.testing.assert_array_equal(first.data, written["SYN_000000001_a0.xim"][::-1])
    via_xim = stonerimg.load(tmp_path / "SYN_000000001_b1.xim")
    np.testing.assert_array_equal(via_xim.data, doc.data)
    assert via_xim["maximus.region"] == 1 and via_xim["maximus.channel"] == 1


def test_synthetic_image_of_wrong_size(tmp_path):
    hdr, _ = write_scan(tmp_path)
    (tmp_path / "SYN_000000001_a.xim").write_text("1\t2\t\n3\t4\t\n")
    with pytest.raises(FormatError) as info:
        stonerimg.load(hdr)
    assert "SYN_000000001_a.xim has 2 rows x 2 columns" in str(info.value)
    with pytest.raises(FormatError, match="3 QAxis"):
        stonerimg.load(tmp_path / "SYN_000000001_a.xim")


# --------------------------------------------------------------------------- bad input


def _assert_format_error(path, *fragments):
    with pytest.raises(FormatError) as info:
        stonerimg.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_empty_header(tmp_path):
    (tmp_path / "scan.hdr").write_bytes(b"")
    _assert_format_error(tmp_path / "scan.hdr", "empty")


@pytest.mark.parametrize(
    ("marker", "offset", "fragment"),
    [
        ("ScanDefinition = {", 18, "not closed with '}'"),  # right after the opening brace
        ('"Sample Y', 4, "string opened with"),  # inside a string
        ("Points = (150", 40, "tuple 'Points' opened with '('"),  # inside the x points
        ("StackAxis = {", 5, "expected '=' after 'Stack'"),  # inside a name
        ('Monochromator = { Name = "Energy";', 34, "not closed with '}'"),  # in a group after ScanDefinition
        ("StorageRingCurrent = 297", 24, "expected ';' after the value of 'StorageRingCurrent'"),
        ("SquarePixels = false;", 22, "tuple 'SpatialRegions' opened with '('"),  # 5 characters from the end
    ],
)
def test_truncated_header(scan_dir, tmp_path, marker, offset, fragment):
    text = _header_text(scan_dir)
    end = text.index(marker) + offset
    path = tmp_path / f"{SCAN}.hdr"
    path.write_bytes((scan_dir / f"{SCAN}.hdr").read_bytes()[: end + text[:end].count("\n")])  # CRLF on disk
    for number in range(2):
        shutil.copy(scan_dir / f"{SCAN}_a{number:03d}.xim", tmp_path)
    _assert_format_error(path, "maximus", "line ", fragment)


def test_header_with_wrong_count(scan_copy):
    path = scan_copy / f"{SCAN}.hdr"
    path.write_bytes(path.read_bytes().replace(b"Points = (150,", b"Points = (151,", 1))
    _assert_format_error(path, "declares 151 values but holds 150", "line 6, column 14")


def test_point_scan_header_is_declined(tmp_path):
    path = tmp_path / "spectra.hdr"
    path.write_text(
        'ScanDefinition = { Type = "NEXAFS Point Scan"; Regions = (1,\n{ PAxis = { Name = "Energy"; '
        "Points = (2, 700.0, 701.0);};\n});\n};\n"
    )
    _assert_format_error(path, "not an image scan")


def test_foreign_hdr_is_not_read(tmp_path):
    path = tmp_path / "cube.hdr"
    path.write_text("ENVI\nsamples = 5\nlines = 4\n")
    _assert_format_error(path, "maximus")


@pytest.mark.parametrize("row", [0, 5, 149])
def test_xim_with_a_text_line(scan_copy, row):
    xim = scan_copy / f"{SCAN}_a000.xim"
    lines = xim.read_bytes().split(b"\r\n")
    lines[row] = b"scan aborted by user"
    xim.write_bytes(b"\r\n".join(lines))
    _assert_format_error(xim, "maximus")
    message = _assert_format_error(scan_copy / f"{SCAN}.hdr", f"{SCAN}_a000.xim")
    assert "not a tab-separated table of numbers" in message


def test_ragged_xim(scan_copy):
    xim = scan_copy / f"{SCAN}_a001.xim"
    lines = xim.read_bytes().split(b"\r\n")
    lines[3] = lines[3].rsplit(b"\t", 2)[0]
    xim.write_bytes(b"\r\n".join(lines))
    _assert_format_error(xim, "number of columns changed")
    _assert_format_error(scan_copy / f"{SCAN}.hdr", f"{SCAN}_a001.xim", "number of columns changed")


def test_xim_with_an_empty_line_inside(scan_copy):
    xim = scan_copy / f"{SCAN}_a000.xim"
    lines = xim.read_bytes().split(b"\r\n")
    lines.insert(70, b"")
    xim.write_bytes(b"\r\n".join(lines))
    _assert_format_error(xim, "empty line")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_xim(scan_copy, seed):
    xim = scan_copy / f"{SCAN}_a000.xim"
    xim.write_bytes(np.random.default_rng(seed).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _assert_format_error(xim, "maximus")
    _assert_format_error(scan_copy / f"{SCAN}.hdr", f"{SCAN}_a000.xim")


def test_random_bytes_hdr(tmp_path):
    path = tmp_path / "scan.hdr"
    path.write_bytes(b"ScanDefinition = {" + np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    _assert_format_error(path, "maximus")
