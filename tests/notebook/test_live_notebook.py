"""session.show() in a real Jupyter kernel (nbclient) with the inline backend: one output, updated in place."""

import nbclient
import nbformat
import pytest

pytest.importorskip("ipywidgets", reason="the live widget needs the notebook extra")

SOURCE = [
    "import time\n"
    "import numpy as np\n"
    "from stonerimg.live import Session, ArraySource\n"
    "frames = [np.full((32, 48), float(i)) for i in range(40)]\n"
    "session = Session(ArraySource(frames, rate=40), ['mean'], drop=False)\n"
    "session.start()\n"
    "view = session.show(interval=0.1)\n"
    "view",
    "time.sleep(0.3)\nfirst = view.image.value\nsession.wait(30)\nsession.stop()\ntime.sleep(0.5)\n"
    "import io\nfrom PIL import Image\n"
    "print(type(view).__name__, view.refreshes, session.stats().frames, first != view.image.value,\n"
    "      Image.open(io.BytesIO(view.image.value)).format, view._thread.is_alive())",
]


def test_session_show_in_a_notebook_updates_one_output_without_blocking(monkeypatch, tmp_path):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: inline
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in SOURCE])
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown, report = (cell.outputs for cell in notebook.cells)
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]["data"]
    assert len(report) == 1, report  # nothing piled up: no figure was displayed besides the widget
    name, refreshes, frames, changed, fmt, alive = report[0]["text"].split()
    assert name == "LiveWidget" and int(refreshes) >= 3 and int(frames) == 40
    assert changed == "True" and fmt == "PNG" and alive == "False"  # it ended after the session stopped
