"""A disk stack opens as a dask array and napari reads only the frames it shows."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import stonerimg
from stonerimg.disk import backends


@pytest.fixture
def frames_read(monkeypatch):
    """Record every frame index read from a disk stack's file (through the dask source)."""
    seen: list[int] = []
    original = backends._FrameSource.__getitem__

    def recording(self, key):
        first = key[0] if isinstance(key, tuple) else key
        seen.extend(range(self.start, self.stop)[first] if isinstance(first, slice) else [self.start + first])
        return original(self, key)

    monkeypatch.setattr(backends._FrameSource, "__getitem__", recording)
    return seen


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_slider_reads_only_the_frames_shown(make_napari_viewer, tmp_path, frames_read, suffix):
    n = 40
    stack = np.arange(n * 32 * 48, dtype=np.float32).reshape(n, 32, 48)
    image = stonerimg.ImageArray(stack, metadata={"title": "big stack"})
    image.set_calibration(0.2, units="µm")
    path = tmp_path / f"stack{suffix}"
    if suffix == ".tif":
        image.save(path, compression="zlib")  # compressed pages: decoded one at a time
    else:
        image.save(path)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="stonerimg")
    assert isinstance(layer.data, da.Array)
    assert layer.data.chunks[0] == (1,) * n
    shown = int(viewer.dims.current_step[0])
    assert set(frames_read) <= {0, shown}  # the contrast limits come from frame 0
    for step in (7, 23, 31):
        viewer.dims.set_current_step(0, step)
        assert_array_equal(np.asarray(layer._slice.image.raw), stack[step])
    assert set(frames_read) == {0, shown, 7, 23, 31}
    assert layer.scale[-1] == pytest.approx(0.2)
