"""Shared fixtures: the real instrument files in ../shared/data (or $STONERIMG_SAMPLE_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _sample_data_dir() -> Path | None:
    candidates = []
    if os.environ.get("STONERIMG_SAMPLE_DATA"):
        candidates.append(Path(os.environ["STONERIMG_SAMPLE_DATA"]))
    candidates += [Path.cwd() / ".." / "shared" / "data", _HERE.parent / ".." / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The folder of real instrument files; skips the test where it is absent."""
    folder = _sample_data_dir()
    if folder is None:
        pytest.skip("sample data not found at ../shared/data or $STONERIMG_SAMPLE_DATA")
    return folder


def sample_subfolder(sample_data: Path, name: str) -> Path:
    """A folder of the sample data; skips the test where it is absent."""
    folder = sample_data / name
    if not folder.is_dir():
        pytest.skip(f"no {name}/ folder in {sample_data}")
    return folder


@pytest.fixture(scope="session")
def kerr_dir(sample_data) -> Path:
    """The Kerr microscope PNGs."""
    return sample_subfolder(sample_data, "kerr")


@pytest.fixture(scope="session")
def stxm_dir(sample_data) -> Path:
    """The PolLux STXM files."""
    return sample_subfolder(sample_data, "stxm")


@pytest.fixture(scope="session")
def dm_dir(sample_data) -> Path:
    """The DigitalMicrograph files."""
    return sample_subfolder(sample_data, "dm")
