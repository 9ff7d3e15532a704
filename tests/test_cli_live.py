"""``stonerimg live``: watch a folder, simulate a camera, record; bad arguments."""

import os

import h5py
import numpy as np
import pytest

from stonerimg.cli import main


@pytest.fixture
def folder(tmp_path):
    frames = []
    for i in range(6):
        data = np.random.default_rng(i).integers(0, 1000, (20, 30)).astype(np.uint16)
        np.save(tmp_path / f"frame{i}.npy", data)
        os.utime(tmp_path / f"frame{i}.npy", (1000 + i, 1000 + i))
        frames.append(data)
    return tmp_path, frames


def test_live_watch_records_every_file(folder, tmp_path_factory, capsys):
    path, frames = folder
    out = tmp_path_factory.mktemp("out") / "live.h5"
    argv = ["live", "--watch", str(path), "--existing", "--poll", "0.02", "--roi", "5,2,10,8"]
    argv += ["--process", "mean", "--process", "radial_profile", "--process", "gaussian(sigma=2)"]
    argv += ["--record", str(out), "--duration", "1", "--interval", "0.3", "--no-drop"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "mean" in text and "dropped" in text and f"recorded to {out}" in text
    with h5py.File(out, "r") as h5:
        trace = h5["mean/trace"][:]
        assert trace["frame"].tolist() == list(range(6))
        np.testing.assert_allclose(trace["value"], [f[2:10, 5:15].mean() for f in frames])
        assert h5["radial_profile/rows"].shape[0] == 6
        assert h5["gaussian(sigma=2)/image"].shape == (8, 10)


def test_live_simulated_camera(capsys):
    assert main(["live", "--simulate", "64x48", "--fps", "100", "--process", "centroid", "--duration", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "centroid" in out and "frames" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--process", "nonsense"], "not a built-in processor; choose from mean"),
        (["--process", "__import__('os').system('true')"], "--process"),
        (["--process", "mean", "--roi", "1,2,3"], "x,y,w,h"),
        ([], "at least one --process"),
        (["--process", "mean", "--workers", "0"], "workers"),
        (["--process", "mean", "--record", "/nonexistent/dir/x.h5"], "does not exist"),
    ],
)
def test_live_rejects_bad_arguments(tmp_path, capsys, argv, message):
    assert main(["live", "--watch", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_live_missing_folder(tmp_path, capsys):
    assert main(["live", "--watch", str(tmp_path / "nope"), "--process", "mean"]) == 2
    assert "does not exist" in capsys.readouterr().err
