"""ImageFolder's default pattern: every extension a registered format claims."""

from __future__ import annotations

import numpy as np

from stonerimg import ImageArray, ImageFolder, formats


def test_default_pattern_finds_the_kerr_pngs(kerr_dir):
    folder = ImageFolder(kerr_dir / "fields")
    expected = sorted(p.name for p in (kerr_dir / "fields").iterdir() if p.suffix == ".png")
    assert len(expected) > 0 and sorted(folder.names) == expected  # "*.tif" found none of them
    assert folder[0].format == "kerr"


def test_default_pattern_is_every_registered_extension(tmp_path):
    image = ImageArray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    for name in ("a.tif", "b.png", "c.npy"):
        image.save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    folder = ImageFolder(tmp_path)
    # the .npy sidecar (c.npy.json) and notes.txt are not listed
    claimed = {ext for fmt in formats.available() for ext in fmt["extensions"]}
    assert {".tif", ".png", ".npy", ".hdf5", ".dm3"} <= claimed
    assert folder.names == ["a.tif", "b.png", "c.npy"]
    assert "notes.txt" not in folder.names and "c.npy.json" not in folder.names
    for doc in (folder["a.tif"], folder["b.png"], folder["c.npy"]):
        np.testing.assert_array_equal(doc.data, image.data)
