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


@pytest.fixture(scope="session")
def kerr_dir(sample_data) -> Path:
    """The Kerr microscope PNGs."""
    folder = sample_data / "kerr"
    if not folder.is_dir():
        pytest.skip(f"no kerr/ folder in {sample_data}")
    return folder
