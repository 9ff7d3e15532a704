"""The box selector in a real JupyterLab, driven by a real headless Chromium with real mouse events.

The test starts a JupyterLab server on localhost (a free port, a random token, a
temporary root folder), opens a notebook it wrote, runs the cells that load the
STXM sample file, show its repr and a box selector under ``%matplotlib widget``
(ipympl), drags a rectangle on the figure's canvas with Selenium's ActionChains,
runs the next cell and reads the crop's shape and box from its output.  Screenshots
go to ``$STONERIMG_SCREENSHOTS`` (the ones in ``doc/_static/screenshots/`` were made with
``STONERIMG_SCREENSHOTS=doc/_static/screenshots``), else to a temporary folder.

It needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them)
and the ``test`` extra (jupyterlab, ipympl, selenium); it skips, saying which is
missing, only where they cannot be had.
"""

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .browser import start_chromium, stop_chromium


def _require():
    # find_spec, not import: importing ipympl here would switch this process's matplotlib backend
    for module in ("jupyterlab", "ipympl", "ipywidgets"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the browser test needs {module} (pip install '.[test]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def _notebook(stxm_file: Path) -> dict:
    cells = [
        _cell(f"%matplotlib widget\nimport stonerimg\ndoc = stonerimg.load({str(stxm_file)!r})\ndoc"),
        _cell(
            "import numpy as np\n"
            "sel = doc.image.select('box')\n"
            "fig, ax, artist = sel.ax.figure, sel.ax, sel.ax.images[-1]\n"
            "left, right, bottom, top = artist.get_extent()\n"
            "rows, cols = doc.shape\n"
            "def where(px, py):  # pixel (x, y) -> fraction of the figure from its top left corner\n"
            "    x = left + (px + 0.5) / cols * (right - left)\n"
            "    y = top + (py + 0.5) / rows * (bottom - top)\n"
            "    fx, fy = ax.transData.transform((x, y)) / (fig.bbox.width, fig.bbox.height)\n"
            "    return float(fx), float(1 - fy)\n"
            "print('DRAG', *where(25, 25), *where(75, 50))"
        ),
        _cell("cropped = doc.image.crop(sel)\nprint('RESULT', cropped.shape, sel.box)"),
        _cell(
            f"folder = stonerimg.ImageFolder({str(stxm_file.parents[1] / 'kerr' / 'fields')!r}, pattern='*.png')\n"
            "viewer = folder.show()\nviewer.slider.value = 2\nviewer"
        ),
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture
def jupyterlab(tmp_path, stxm_dir):
    _require()
    port, token = _free_port(), secrets.token_hex(16)
    root = tmp_path / "root"
    root.mkdir()
    (root / "selector.ipynb").write_text(json.dumps(_notebook(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "MPLBACKEND": "",
    }
    env.pop("MPLBACKEND")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--allow-root",
    ]
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no news pop-up, no network
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')  # every cell stays in the page
    log = open(tmp_path / "jupyter.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: {(tmp_path / 'jupyter.log').read_text()}") from None
                time.sleep(0.3)
        yield f"{url}/lab/tree/selector.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser():
    _require()
    driver = start_chromium(1280, 1400)
    yield driver
    stop_chromium(driver)


def _wait(driver, condition, what: str, timeout: float = 60):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        shot = Path(driver._stonerimg_profile).parent / "stonerimg-browser-timeout.png"
        driver.save_screenshot(str(shot))
        raise AssertionError(f"timed out waiting for {what}; the page is in {shot}") from None


def _run_cell(driver, index: int):
    """Select cell ``index`` of the notebook and run it with shift+enter (retrying while the page re-renders)."""
    from selenium.common.exceptions import ElementNotInteractableException, StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def cell(d):
        return d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[index]

    def selected(d):
        try:
            prompt = cell(d).find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
            d.execute_script("arguments[0].scrollIntoView({block: 'center'})", prompt)
            prompt.click()
            return "jp-mod-active" in cell(d).get_attribute("class")
        except (StaleElementReferenceException, ElementNotInteractableException, IndexError):
            return False

    def started(d):
        try:
            return cell(d).find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip() not in ("", "[ ]:")
        except (StaleElementReferenceException, IndexError):
            return False

    for _ in range(5):  # just after the page loads, a run can be dropped while the kernel connects
        _wait(driver, selected, f"cell {index} to be selected", 30)
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if started(driver):
                return
            time.sleep(0.2)
    _wait(driver, started, f"cell {index} to run", 1)


def _output_text(driver, index: int, pattern: str) -> re.Match:
    from selenium.webdriver.common.by import By

    def found(d):
        cells = d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
        text = cells[index].find_element(By.CSS_SELECTOR, ".jp-Cell-outputWrapper").text
        return re.search(pattern, text) or (("Error" in text or "Traceback" in text) and text)

    result = _wait(driver, found, f"output {pattern!r} of cell {index}", timeout=90)
    assert isinstance(result, re.Match), f"cell {index} failed:\n{result}"
    return result


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("STONERIMG_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_box_selector_in_jupyterlab_crops_what_was_dragged(jupyterlab, browser, shots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(jupyterlab)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), "the notebook", 90)
    _wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']"),
        "an idle kernel",
        90,
    )
    _run_cell(browser, 0)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Cell .jp-OutputArea-output img"), "the repr")
    # the repr's thumbnail keeps the image's aspect (100 x 100 pixels of 15 nm) as JupyterLab lays it out
    width, height = browser.execute_script(
        "const r = document.querySelector('.jp-OutputArea-output img').getBoundingClientRect();"
        "return [r.width, r.height];"
    )
    assert width / height == pytest.approx(1.0, rel=0.02)
    _run_cell(browser, 1)
    drag = _output_text(browser, 1, r"DRAG ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)")
    canvas = _wait(
        browser,
        lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, ".jupyter-matplotlib-figure canvas") if c.size["width"]],
        "the ipympl canvas",
    )[-1]  # the top canvas takes the mouse
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    time.sleep(2)  # let the figure finish its first draw (ipympl sends no events before)
    width, height = canvas.size["width"], canvas.size["height"]
    fx0, fy0, fx1, fy1 = (float(v) for v in drag.groups())
    start = (round(fx0 * width - width / 2), round(fy0 * height - height / 2))
    end = (round(fx1 * width - width / 2), round(fy1 * height - height / 2))
    # ipympl sends a motion event only once the kernel has answered the previous one: move slowly
    actions = ActionChains(browser).move_to_element_with_offset(canvas, *start).pause(0.3).click_and_hold().pause(0.3)
    for step in range(1, 6):
        actions.move_to_element_with_offset(
            canvas, start[0] + (end[0] - start[0]) * step // 5, start[1] + (end[1] - start[1]) * step // 5
        ).pause(0.3)
    actions.release().perform()
    time.sleep(1)  # the events travel to the kernel over the widget comm
    browser.save_screenshot(str(shots / "jupyterlab-box-selector.png"))
    _run_cell(browser, 2)
    result = _output_text(browser, 2, r"RESULT \((\d+), (\d+)\) \((\d+), (\d+), (\d+), (\d+)\)")
    shape, box = tuple(map(int, result.groups()[:2])), tuple(map(int, result.groups()[2:]))
    assert box == (25, 75, 25, 50)
    assert shape == (25, 50)

    # the folder viewer: widgets around an ipympl canvas, a cursor readout in physical units
    _run_cell(browser, 3)
    sliders = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-slider"), "the viewer's sliders")
    assert len(sliders) >= 2  # file and contrast
    viewer_canvas = _wait(
        browser,
        lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, ".jupyter-matplotlib-figure canvas") if c.size["width"]][
            2:
        ],
        "the viewer's canvas",
    )[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", viewer_canvas)
    time.sleep(2)
    ActionChains(browser).move_to_element(viewer_canvas).pause(0.3).move_by_offset(5, 5).pause(0.5).perform()

    def readout(d):
        labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".widget-label") if "µm" in e.text]
        return labels[0] if labels else None

    text = _wait(browser, readout, "the cursor readout")
    assert re.match(r"x = [-\d.]+ µm, y = [-\d.]+ µm \(pixel \d+, \d+\): \d+", text), text
    assert "3 of 8: 000_field245_run0_unproccessed.png" in browser.page_source
    browser.save_screenshot(str(shots / "jupyterlab-folder-viewer.png"))
