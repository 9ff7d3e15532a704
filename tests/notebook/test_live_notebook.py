"""In a real Jupyter kernel (nbclient, inline backend): session.show() keeps one output updated in place,
and the blocking mask.select() refuses to hang the kernel."""

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
    "from stonerimg import ImageArray\n"
    "try:\n    ImageArray(np.zeros((4, 4))).mask.select()\nexcept RuntimeError as err:\n    print(err)",
]


def test_session_show_in_a_notebook_updates_one_output_without_blocking(monkeypatch, tmp_path):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: inline
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in SOURCE])
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown, report, refusal = (cell.outputs for cell in notebook.cells)
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]["data"]
    assert len(report) == 1, report  # nothing piled up: no figure was displayed besides the widget
    name, refreshes, frames, changed, fmt, alive = report[0]["text"].split()
    assert name == "LiveWidget" and int(refreshes) >= 3 and int(frames) == 40
    assert changed == "True" and fmt == "PNG" and alive == "False"  # it ended after the session stopped
    # Stoner's blocking mask.select() would hang the kernel that delivers the mouse events: it says what to do
    assert "would block the notebook's kernel" in refusal[0]["text"]
    assert "sel = image.select('polygon')" in refusal[0]["text"]
