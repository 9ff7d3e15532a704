"""Fuzzing the DM tag parser: damaged DM3/DM4 files give an image, FormatMismatch or FormatError, nothing else.

Derandomized and bounded, so the run is fast and repeatable.  Each example runs under the
time limit of the bad-input tests, so a parser loop that did not end would fail.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from stonerimg import FormatError, ImageFile, ImageStack
from stonerimg.errors import FormatMismatch
from stonerimg.formats import dm

from .dm_writer import write_dm
from .test_bad_input import corrupt, corruptions, time_limit

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _samples(folder, dm_dir=None) -> dict[str, bytes]:
    tags = {"Microscope Info": {"Voltage": 2e5, "Name": "fuzz"}, "List": [1, 2.5, "three"]}
    found = {
        "dm3 stack": write_dm(folder / "a.dm3", np.arange(60, dtype=np.int16).reshape(3, 4, 5), tags=tags),
        "dm4 image": write_dm(folder / "b.dm4", np.arange(20, dtype=np.float32).reshape(4, 5), version=4, tags=tags),
    }
    return {name: path.read_bytes() for name, path in found.items()}


def _check(path) -> None:
    """dm.load gives an image or declines; data_block gives a block or a FormatError."""
    with time_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a skipped DM4 tag warns, as documented
        try:
            document = dm.load(path)
        except FormatMismatch as err:  # not a DM file any more
            assert str(err)
        except FormatError as err:  # a damaged DM file, refused
            assert str(path) in str(err) and "damaged DM file" in str(err)
        else:
            assert isinstance(document, (ImageFile, ImageStack))
            assert type(np.asarray(document.data)) is np.ndarray
        try:
            offset, dtype, shape, _ = dm.data_block(path)
        except FormatError as err:
            assert str(path) in str(err)
        else:
            assert 0 <= offset and offset + int(np.prod(shape)) * dtype.itemsize <= path.stat().st_size


@pytest.mark.parametrize("name", ["dm3 stack", "dm4 image"])
def test_fuzz_written_files(tmp_path, name):
    raw = _samples(tmp_path)[name]
    path = tmp_path / f"fuzz.dm{name[2]}"

    @FUZZ
    @given(damages=corruptions(len(raw)))
    def fuzz(damages):
        note(f"{name} damaged by {damages!r}")
        path.write_bytes(corrupt(raw, damages))
        _check(path)

    fuzz()


@pytest.mark.parametrize("version", [3, 4])
def test_fuzz_size_fields(tmp_path, version):
    """Any value in any big-endian count or size word of the tag structure."""
    raw = _samples(tmp_path)["dm3 stack" if version == 3 else "dm4 image"]
    width = 8 if version == 4 else 4
    path = tmp_path / f"sizes.dm{version}"

    @FUZZ
    @given(
        at=st.integers(0, len(raw) - width),
        value=st.one_of(st.integers(0, 2 ** (8 * width) - 1), st.sampled_from([0, 1, 2**31, 2 ** (8 * width) - 1])),
    )
    def fuzz(at, value):
        path.write_bytes(raw[:at] + struct.pack(">Q" if width == 8 else ">I", value) + raw[at + width :])
        _check(path)

    fuzz()


def test_fuzz_real_file(dm_dir, tmp_path):
    raw = (dm_dir / "test_STEM_image.dm3").read_bytes()
    path = tmp_path / "stem.dm3"

    @settings(FUZZ, max_examples=60)
    @given(damages=corruptions(len(raw)))
    def fuzz(damages):
        note(f"STEM image damaged by {damages!r}")
        path.write_bytes(corrupt(raw, damages))
        _check(path)

    fuzz()
