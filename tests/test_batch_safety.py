"""Batches under hostile files: a per-file deadline by default, and no worker outlives its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import stonerimg
from stonerimg import formats as registry
from stonerimg._workers import TaskTimeoutError
from stonerimg.cli import main
from stonerimg.folder import ImageFolder, convert_files


def _hang(path, **kwargs):
    """A loader stuck for ever (as libraries get stuck in C code on hostile files)."""
    while True:
        time.sleep(1000)


@pytest.fixture
def hang_format():
    registry.register(registry.Format(name="hang", extensions={".hang": 1}, load=_hang))
    yield
    registry.unregister("hang")


@pytest.fixture
def batch(tmp_path, hang_format):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "c"):
        stonerimg.ImageArray(np.full((3, 4), ord(name), np.uint8)).save(folder / f"{name}.tif")
    (folder / "b.hang").write_bytes(b"hang")
    return folder


def test_convert_without_workers_has_a_deadline_and_reports_the_file(batch, tmp_path):
    report = convert_files([batch], tmp_path / "out", timeout=2.0, progress=False)
    assert [p.name for p, _ in report.converted] == ["a.tif", "c.tif"]
    assert [(p.name, why) for p, why in report.failed] == [("b.hang", "timed out after 2 s")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.tif", "c.tif"]


def test_cli_convert_without_workers_reports_the_file(batch, tmp_path, capsys):
    assert main(["convert", str(batch), "-o", str(tmp_path / "out"), "--timeout", "2", "--quiet"]) == 1
    assert "failed: " in capsys.readouterr().err
    assert np.asarray(stonerimg.load(tmp_path / "out" / "c.tif").image)[0, 0] == ord("c")


def test_folder_convert_without_workers_has_a_deadline(batch, tmp_path):
    folder = ImageFolder(batch, ["*.tif", "*.hang"])
    report = folder.convert(tmp_path / "out", timeout=2.0, progress=False)
    assert [(p.name, why) for p, why in report.failed] == [("b.hang", "timed out after 2 s")]
    assert len(report.converted) == 2


def test_map_has_a_deadline_by_default_in_this_process(tmp_path):
    for i in range(3):
        stonerimg.ImageArray(np.full((2, 2), i, np.uint8)).save(tmp_path / f"f{i}.npy")

    def slow_on_one(document):
        if document.image[0, 0] == 1:
            time.sleep(30)
        return int(document.image[0, 0])

    folder = ImageFolder(tmp_path, "*.npy")
    results = folder.map(slow_on_one, timeout=1.0, errors="collect")
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], TaskTimeoutError) and "f1.npy" in str(results[1])
    import inspect

    assert inspect.signature(ImageFolder.map).parameters["timeout"].default == 60.0
    assert inspect.signature(ImageFolder.convert).parameters["timeout"].default == 60.0


def _state(pid: int) -> str | None:
    """The process state letter (``Z`` for a zombie), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_their_parent_after_kill_9(tmp_path):
    script = textwrap.dedent(
        """
        import os, signal, threading, time
        from stonerimg._workers import WorkerPool

        def busy(item):
            while True:  # at 100 % CPU, as on a hang file
                pass

        pool = WorkerPool(busy, 2)
        # the pool starts its workers when run() is iterated: do that in the main thread
        runs = pool.run(range(4), timeout=None)
        def report():
            deadline = time.monotonic() + 30
            while len(pool.pids) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            print(" ".join(map(str, pool.pids)), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        threading.Thread(target=report, daemon=True).start()
        list(runs)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        pids = [int(p) for p in child.stdout.readline().split()]
        child.wait(timeout=30)
        assert len(pids) == 2
        deadline = time.monotonic() + 10
        while any(_state(pid) not in (None, "Z") for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_state(pid) in (None, "Z") for pid in pids), [_state(pid) for pid in pids]
    finally:  # never leave a spinning worker behind, even when the test fails
        child.stdout.close()
        for pid in pids:
            if _state(pid) not in (None, "Z"):
                os.kill(pid, 9)


def test_fifos_and_symlink_loops_in_a_folder_are_reported(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    stonerimg.ImageArray(np.zeros((2, 2), np.uint8)).save(folder / "good.tif")
    os.mkfifo(folder / "pipe.tif")
    os.symlink(folder / "loop_b.tif", folder / "loop_a.tif")
    os.symlink(folder / "loop_a.tif", folder / "loop_b.tif")
    os.symlink(folder / "gone.tif", folder / "dangling.tif")
    images = ImageFolder(folder)
    assert images.names == ["good.tif"]
    reasons = {path.name: why for path, why in images.unreadable}
    assert reasons == {
        "dangling.tif": "a symbolic link to nothing",
        "loop_a.tif": "a loop of symbolic links",
        "loop_b.tif": "a loop of symbolic links",
        "pipe.tif": "a FIFO, not a regular file",
    }
    assert "pipe.tif" in caplog.text
    report = images.convert(tmp_path / "out", progress=False)
    assert {p.name for p, _ in report.failed} == set(reasons)
    assert [p.name for p, _ in report.converted] == ["good.tif"]
    report = convert_files([folder], tmp_path / "out2", progress=False)
    assert {p.name for p, _ in report.failed} == set(reasons)
