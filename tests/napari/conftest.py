"""napari tests: a real viewer (napari's ``make_napari_viewer``) on a virtual X display.

Qt cannot draw napari's OpenGL canvas with ``QT_QPA_PLATFORM=offscreen``, so
without a display the tests start ``Xvfb`` (the ``xvfb`` system package, which
``.ci/run`` installs) for the session.  ``DISPLAY`` is set only while this
package's tests run, so the rest of the suite sees the environment it had
(matplotlib, for one, picks its backend from it).  The tests are skipped, with
the reason, only when the ``napari`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

EXTRA = ("napari", "npe2", "magicgui", "pytestqt")
MISSING = [name for name in EXTRA if importlib.util.find_spec(name) is None]
_SAVED_DISPLAY = os.environ.get("DISPLAY")


def pytest_collection_modifyitems(config, items):
    if not MISSING:
        return
    skip = pytest.mark.skip(
        reason=f"the napari extra is not installed (no {', '.join(MISSING)}): pip install 'stonerimg[napari]' pytest-qt"
    )
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _xvfb():
    """The X display to use: the session's own, else a new Xvfb server kept until the session ends."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("napari needs an X display: set DISPLAY or install Xvfb (apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-terminate"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        pytest.fail("Xvfb did not start (no display number on -displayfd)")
    os.environ["DISPLAY"] = f":{number}"
    yield f":{number}"
    # Qt's connection must outlive the tests (Qt aborts the process when its X server goes away), so a
    # server that has a client is left to end itself (-terminate) when the process exits and disconnects
    qt = sys.modules.get("qtpy.QtWidgets")
    if qt is None or qt.QApplication.instance() is None:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="package", autouse=True)
def virtual_display(_xvfb):
    """Point Qt at the display while this package's tests run (and put ``DISPLAY`` back after them).

    ``DISPLAY`` is set before any session fixture makes the QApplication (pytest-qt's ``qapp``)
    by the session fixture the display comes from; this one only restores it.
    """
    saved = _SAVED_DISPLAY
    os.environ["DISPLAY"] = _xvfb
    yield _xvfb
    if saved is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = saved
