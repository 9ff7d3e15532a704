"""Saves: old-or-new after kill -9, the pair of an NPY save, temporary files, modes and links.

Every saver writes through :func:`stonerimg.formats.atomic_path`; these tests hold its
promises for each format that saves: the target is the old file or the new one whatever
moment the process is killed, a torn NPY pair is found (and the new pair read), stale
temporary files go on the next save, the target keeps its mode, symbolic and hard links,
and the process umask is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, ImageArray
from stonerimg import formats as registry
from stonerimg.formats import npy

EXTENSIONS = [".tif", ".png", ".npy", ".hdf5"]


def image(value: int) -> ImageArray:
    return ImageArray(np.full((64, 48), value, np.uint8), metadata={"value": value})


@pytest.fixture(params=EXTENSIONS)
def ext(request):
    if request.param == ".hdf5":
        pytest.importorskip("h5py")
    return request.param


# ---------------------------------------------------------------- modes and links


def test_saving_over_a_file_keeps_its_mode(tmp_path, ext):
    target = tmp_path / f"x{ext}"
    image(1).save(target)
    os.chmod(target, 0o600)
    image(2).save(target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert stonerimg.load(target).metadata["value"] == 2


def test_a_new_file_gets_the_umask_mode_and_the_umask_is_never_changed(tmp_path, ext, monkeypatch):
    old = os.umask(0o027)
    try:

        def forbidden(mask):
            raise AssertionError("a save changed the process umask")

        monkeypatch.setattr(os, "umask", forbidden)
        image(1).save(tmp_path / f"new{ext}")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / f"new{ext}").stat().st_mode & 0o777 == 0o640


def test_saving_over_a_symlink_writes_its_target(tmp_path, ext):
    real = tmp_path / "data" / f"real{ext}"
    real.parent.mkdir()
    image(1).save(real)
    link = tmp_path / f"link{ext}"
    link.symlink_to(real)
    image(2).save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert stonerimg.load(real).metadata["value"] == 2


def test_saving_over_a_hard_link_keeps_the_link(tmp_path, ext):
    first = tmp_path / f"a{ext}"
    image(1).save(first)
    second = tmp_path / f"b{ext}"
    os.link(first, second)
    inode = first.stat().st_ino
    image(2).save(first)
    assert first.stat().st_ino == second.stat().st_ino == inode
    assert np.asarray(stonerimg.load(second, fmt=None).image)[0, 0] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- temporary files


def test_temporary_files_are_named_recognisably(tmp_path, monkeypatch):
    seen = []
    real = registry.atomic_path

    def spy(target):
        manager = real(target)
        temp = manager.__enter__()
        seen.append(temp.name)
        return _Wrapped(manager, temp)

    monkeypatch.setattr("stonerimg.formats.tiff.atomic_path", spy)
    image(1).save(tmp_path / "x.tif")
    assert len(seen) == 1
    name = seen[0]
    assert name.startswith(f".x.tif.~stonerimg-{os.getpid()}@") and name.endswith(".tif")


class _Wrapped:
    def __init__(self, manager, temp):
        self.manager, self.temp = manager, temp

    def __enter__(self):
        return self.temp

    def __exit__(self, *exc):
        return self.manager.__exit__(*exc)


def test_stale_temporary_files_are_removed_on_the_next_save(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_cleaned_folders", set())
    host = registry._host()
    dead = _dead_pid()
    stale = tmp_path / f".a.tif.~stonerimg-{dead}@{host}-0123abcd.tif"
    mine = tmp_path / f".b.tif.~stonerimg-{os.getpid()}@{host}-0123abcd.tif"  # being written by us
    alive = tmp_path / f".c.tif.~stonerimg-1@{host}-0123abcd.tif"  # a live process
    elsewhere = tmp_path / f".d.tif.~stonerimg-{dead}@another_host-0123abcd.tif"
    old_elsewhere = tmp_path / f".e.tif.~stonerimg-{dead}@another_host-0123abcd.tif"
    unrelated = tmp_path / ".f.tif.partial"
    for path in (stale, mine, alive, elsewhere, old_elsewhere, unrelated):
        path.write_bytes(b"x" * 100)
    long_ago = time.time() - registry.STALE_SECONDS - 60
    os.utime(old_elsewhere, (long_ago, long_ago))
    image(1).save(tmp_path / "z.tif")
    left = {p.name for p in tmp_path.iterdir()}
    assert stale.name not in left and old_elsewhere.name not in left
    assert {mine.name, alive.name, elsewhere.name, unrelated.name, "z.tif"} <= left


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- kill -9


_SAVER = textwrap.dedent(
    """
    import sys, numpy as np, stonerimg
    target = sys.argv[1]
    images = [stonerimg.ImageArray(np.full((256, 256), v, np.uint16), metadata={"value": v}) for v in (1, 2)]
    print("ready", flush=True)
    i = 0
    while True:
        images[i % 2].save(target)
        i += 1
    """
)


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_kill_9_during_saves_leaves_the_old_or_the_new_file(tmp_path, suffix):
    target = tmp_path / f"x{suffix}"
    image(1).save(target)  # there is always an old file
    rng = np.random.default_rng(7)
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(target)], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.02, 0.25)))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        loaded = stonerimg.load(target)
        value = loaded.metadata["value"]
        assert value in (1, 2)
        assert np.all(np.asarray(loaded.image) == value)  # metadata and pixels of one save


def test_a_torn_npy_pair_is_read_as_the_new_pair_or_refused(tmp_path, monkeypatch):
    target = tmp_path / "x.npy"
    image(1).save(target)
    calls = []
    real_replace = os.replace

    def die_after_the_pixels(source, destination):
        real_replace(source, destination)
        calls.append(destination)
        raise KeyboardInterrupt  # as if killed between the two renames (the sidecar's temp file stays)

    monkeypatch.setattr(os, "replace", die_after_the_pixels)
    with pytest.raises(KeyboardInterrupt):
        _save_keeping_temp_files(image(2), target, monkeypatch)
    monkeypatch.setattr(os, "replace", real_replace)
    assert [os.path.basename(p) for p in calls] == ["x.npy"]  # the pixels went first
    # the pixels are new, the sidecar old: the pending new sidecar is found and read
    loaded = stonerimg.load(target)
    assert loaded.metadata["value"] == 2 and np.all(np.asarray(loaded.image) == 2)
    with stonerimg.open(target) as opened:
        assert opened.metadata["value"] == 2
    for pending in registry.temp_files(npy.sidecar(target)):
        pending.unlink()
    with pytest.raises(FormatError, match="saved with other pixels"):
        stonerimg.load(target)
    with pytest.raises(FormatError, match="saved with other pixels"):
        stonerimg.open(target)


def _save_keeping_temp_files(document, target, monkeypatch):
    """Save while a kill is simulated: the temporary files are left as a killed process leaves them."""
    from pathlib import Path

    real_unlink = Path.unlink

    def keep(self, *args, **kwargs):
        if registry.TEMP_MARK in self.name:
            return None
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", keep)
    try:
        document.save(target)
    finally:
        monkeypatch.setattr(Path, "unlink", real_unlink)


def test_the_same_image_saves_to_the_same_bytes(tmp_path):
    image(3).save(tmp_path / "a.npy")
    image(3).save(tmp_path / "b.npy")
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert npy.file_generation(tmp_path / "a.npy") is not None
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.full((64, 48), 3, np.uint8))  # NumPy reads it as ever


def test_a_scratch_disk_image_saved_as_npy_is_a_checked_pair(tmp_path):
    target = tmp_path / "moved.npy"
    image(1).save(target)
    os.chmod(target, 0o640)
    scratch = stonerimg.zeros((16, 8), dtype=np.float32)
    scratch.metadata["value"] = 5
    scratch.save(target)  # moved into place, not copied
    assert target.stat().st_mode & 0o777 == 0o640
    assert npy.file_generation(target) is not None
    loaded = stonerimg.load(target)
    assert loaded.shape == (16, 8) and loaded.metadata["value"] == 5
    np.testing.assert_array_equal(np.load(target), np.zeros((16, 8), np.float32))
