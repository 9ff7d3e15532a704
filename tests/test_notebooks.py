"""The notebooks in doc/notebooks run from top to bottom (executed with nbclient, as Jupyter would)."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "doc" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"stxm_xmcd.ipynb", "kerr_hysteresis.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, sample_data, monkeypatch):
    monkeypatch.setenv("STONERIMG_SAMPLE_DATA", str(sample_data))
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # every code cell ran and the last one printed its check
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code")
    assert any(o.get("output_type") == "stream" for o in outputs)
