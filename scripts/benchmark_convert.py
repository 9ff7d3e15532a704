"""Convert generated STXM files to TIFF: files/s with 1 and 2 workers, and the library's per-file overhead.

Writes ``--files`` (default 500) NXstxm HDF5 files of ``--size`` x ``--size``
(default 512 x 512, float64 counts, as PolLux records them) with
``STXMImage(...).save`` into a temporary folder, then times

- a bare loop: ``h5py`` reads ``entry1/counter0/data`` and ``tifffile.imwrite``
  writes it (no metadata, no temporary file), in this process and in one
  worker process of the pool the library uses;
- ``ImageFolder.convert(out, "tiff")`` in this process (``workers=0``) and with
  ``workers=1``: the difference from the bare loop in the same kind of
  process, per file, is the library's overhead (goal: <= 2 ms): the format
  registry, the HDF5 safety scan, the metadata read and written back, the
  atomic write.  With ``--tuned`` this process first calls
  ``keep_freed_buffers()`` as the ``stonerimg convert`` command and the worker
  processes do; without it, it is an untuned user's process, where glibc's
  return of every freed image buffer to the kernel costs a few ms per file;
- ``ImageFolder.convert(out, "tiff", workers=N)`` for N = 1 and 2: files/s and
  the speed-up of 2 workers over 1 (goal: >= 1.7x; needs two free cores).

Every run writes into a fresh output folder, deleted afterwards; the inputs
stay in the page cache, so this measures the library and the CPU, not the disk.

Run: ``python scripts/benchmark_convert.py [--files N] [--size PX] [--rounds R] [--dir /dev/shm] [--tuned]``
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import tifffile

from stonerimg._workers import WorkerPool
from stonerimg.folder import ImageFolder, _warm_up, keep_freed_buffers
from stonerimg.formats.stxm import STXMImage


def generate(folder: Path, count: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        counts = rng.poisson(5000.0, (size, size)).astype(np.float64)
        image = STXMImage(
            counts,
            metadata={
                "energy": 706.8 + 0.1 * (i % 20),
                "energy.units": "eV",
                "polarization": 1.0 if i % 2 else -1.0,
                "collection.polarization.value": 1.0 if i % 2 else -1.0,
                "calibration.x.scale": 0.05,
                "calibration.x.offset": 0.0,
                "calibration.x.units": "µm",
                "calibration.y.scale": -0.05,
                "calibration.y.offset": 25.6,
                "calibration.y.units": "µm",
            },
        )
        path = folder / f"Sample_Image_{i:04d}.hdf5"
        image.save(path)
        paths.append(path)
    return paths


def bare_one(item) -> None:
    path, out = item
    with h5py.File(path, "r") as handle:
        data = handle["entry1/counter0/data"][()]
    tifffile.imwrite(out / (path.stem + ".tif"), data)


def bare(paths: list[Path], out: Path) -> None:
    for path in paths:
        bare_one((path, out))


def bare_in_worker(paths: list[Path], out: Path) -> None:
    """The bare loop in one worker process of the same pool the library uses."""
    with WorkerPool(bare_one, 1, initializer=_warm_up) as pool:
        for outcome in pool.run([(path, out) for path in paths]):
            if not outcome.ok:
                raise outcome.error


def timed(func, out: Path) -> float:
    out.mkdir()
    start = time.perf_counter()
    func(out)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="repeat each measurement, report the median")
    parser.add_argument("--dir", default=None, help="where to make the temporary folder (e.g. /dev/shm)")
    parser.add_argument("--tuned", action="store_true", help="tune this process as the stonerimg command does")
    args = parser.parse_args()
    if args.tuned:
        keep_freed_buffers()
    with tempfile.TemporaryDirectory(prefix="stonerimg-bench-", dir=args.dir) as tmp:
        tmp = Path(tmp)
        source = tmp / "in"
        source.mkdir()
        start = time.perf_counter()
        paths = generate(source, args.files, args.size)
        print(
            f"generated {len(paths)} files of {args.size} x {args.size} float64 "
            f"({sum(p.stat().st_size for p in paths) / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s; "
            f"{os.cpu_count()} CPUs"
        )
        folder = ImageFolder(source, "*.hdf5")
        runs = {
            "bare, in process": lambda out: bare(paths, out),
            "stonerimg, workers=0": lambda out: folder.convert(out, "tiff", workers=0),
            "bare, in 1 worker": lambda out: bare_in_worker(paths, out),
            "stonerimg, workers=1": lambda out: folder.convert(out, "tiff", workers=1),
            "stonerimg, workers=2": lambda out: folder.convert(out, "tiff", workers=2),
        }
        for out in [tmp / "warm"]:  # warm up imports and the page cache
            timed(lambda o: bare(paths[:20], o), out)
            timed(lambda o: ImageFolder(source, "*_000*.hdf5").convert(o, "tiff"), out)
        times = {name: [] for name in runs}
        for r in range(args.rounds):
            for name, run in runs.items():  # interleaved, so a change of load hits every run alike
                times[name].append(timed(run, tmp / f"out-{r}-{len(times[name])}-{name[:4]}{name[-1]}"))
        n = len(paths)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"{'run':<24} {'median s':>9} {'files/s':>9} {'ms/file':>9}")
        for name, seconds in medians.items():
            print(f"{name:<24} {seconds:>9.2f} {n / seconds:>9.1f} {1000 * seconds / n:>9.2f}")
        here = 1000 * (medians["stonerimg, workers=0"] - medians["bare, in process"]) / n
        worker = 1000 * (medians["stonerimg, workers=1"] - medians["bare, in 1 worker"]) / n
        speedup = medians["stonerimg, workers=1"] / medians["stonerimg, workers=2"]
        kind = "tuned like the stonerimg command" if args.tuned else "untuned"
        print(f"library overhead per file, in this process ({kind}; workers=0 vs bare): {here:.2f} ms (goal <= 2 ms)")
        print(f"library overhead per file, in a worker (workers=1 vs bare in 1 worker): {worker:.2f} ms (goal <= 2 ms)")
        print(f"speed-up of 2 workers over 1: {speedup:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
