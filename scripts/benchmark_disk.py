"""Disk images larger than the address space: stonerimg.open on a big uint16 stack, in a capped child process.

Writes a ``--gib`` GiB (default 6) uint16 ``.npy`` stack of ``--side`` x ``--side`` frames
(default 4096, 32 MiB a frame) that drift by a known whole number of pixels, then runs a
child process whose address space is capped with ``resource.setrlimit(RLIMIT_AS, ...)``
(default 1.5 GiB: the whole file cannot even be mapped at once) and prints:

- the mean image through ``stonerimg.open(path).mean()`` next to two plain NumPy reductions
  of the same file, over ``numpy.memmap`` windows of the same size (a single memmap of the
  whole file fails under the cap): the idiom ``.sum(axis=0, dtype=float64)`` per window, and
  the faster frame-by-frame ``np.add(total, frame, out=total)``, as GB/s (goal: stonerimg
  >= 80 % of the faster), each with its peak RSS;
- the drift-corrected average of a ``--region`` pixel sub-region
  (``stack.drift_corrected_mean(box)``) next to the same loop written with numpy.memmap,
  skimage's phase_cross_correlation and scipy.ndimage.shift, with the drift it recovered;
- ``load_plane(stride=(8, 8))`` next to a full-plane ``load_plane`` (goal: >= 4x faster);
- the child's peak RSS (``resource.getrusage``; per step, VmHWM after resetting it with
  Linux's ``clear_refs``, which resets ``ru_maxrss`` too, so the largest of them is printed)
  and its peak address space (VmPeak).

The frame size matters for ``load_plane``: on a file in the page cache both reads cost page
faults, and the kernel maps 64 KiB around each fault.  With 4096-pixel rows (8 KiB) a stride
of 8 rows skips whole fault blocks; with 2048-pixel rows (4 KiB, ``--side 2048``) every fault
block still holds two of the rows read, so both reads take the same number of faults and the
stride gains only the copy (about 2x here).

Both sides of each comparison run interleaved in the same child (medians after a warm-up
run, scripts/_timing.py), so they read the file from the same page cache.  The child sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS = 1 before importing NumPy:
OpenBLAS reserves address space for a buffer per thread, one thread per core (on a 2-core
machine importing NumPy, SciPy, scikit-image and stonerimg takes 274 MiB of address space
without it and 194 MiB with it), so on a many-core machine the imports alone could exceed
the cap.  None of the measured work uses BLAS.

The file goes in a temporary folder (``--dir``) that is deleted afterwards.

Run: ``python scripts/benchmark_disk.py [--gib 6] [--cap-gib 1.5] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOCK_BYTES = 64 << 20  # the window both sides map at once (stonerimg.config.block_bytes default)


def drifts_for(n: int) -> list[tuple[int, int]]:
    """Known whole-pixel drift ``(dx, dy)`` of each frame: a slow walk within +-6 pixels."""
    return [(round(6 * math.sin(i / 40)), round(4 * math.cos(i / 55)) - 4) for i in range(n)]


def make_stack(path: Path, n: int, side: int) -> None:
    """Write the ``.npy`` stack frame by frame (never all in memory): a textured base image, rolled by the drift."""
    import numpy as np
    from numpy.lib import format as npy_format

    rng = np.random.default_rng(0)
    base = np.full((side + 16, side + 16), 2000.0)
    py, px = np.mgrid[-8:9, -8:9]
    blob = 8000 * np.exp(-(px**2 + py**2) / 12.0)
    for x, y in rng.integers(0, side, (side * side // 2000, 2)):  # blobs: something to register on
        base[y : y + 17, x : x + 17] += blob
    base = base[8:-8, 8:-8].astype(np.uint16)
    noise = rng.integers(0, 64, size=(8, side, side), dtype=np.uint16)
    with open(path, "wb") as out:
        npy_format.write_array_header_2_0(out, {"descr": "<u2", "fortran_order": False, "shape": (n, side, side)})
        for i, (dx, dy) in enumerate(drifts_for(n)):
            frame = np.roll(base, (dy, dx), axis=(0, 1)) + noise[i % 8]
            out.write(frame.tobytes())


# ---------------------------------------------------------------- the capped child
def peak_rss(func) -> int:
    """Peak resident set (bytes) while ``func`` runs: Linux's VmHWM after resetting it (clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    func()
    return _status("VmHWM")


def _status(key: str) -> int:
    """A size from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return -1


def child(path: str, cap: int, repeats: int, region: int) -> dict:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import numpy as np
    from _timing import interleaved_medians
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation

    import stonerimg

    results: dict = {"cap_bytes": cap, "rss_baseline": _status("VmRSS")}
    try:
        np.load(path, mmap_mode="r")
        results["whole_memmap"] = "mapped (the cap is larger than the file)"
    except (OSError, MemoryError, ValueError) as err:
        results["whole_memmap"] = f"fails under the cap: {type(err).__name__}: {err}"

    stack = stonerimg.open(path)
    n, rows, cols = stack.shape
    nbytes = n * rows * cols * 2
    offset = stack._backend.offset  # the .npy header length
    results.update(frames=n, side=rows, nbytes=nbytes)
    per_block = max(1, BLOCK_BYTES // (rows * cols * 2))

    def windows():
        for start in range(0, n, per_block):
            k = min(per_block, n - start)
            yield np.memmap(path, "<u2", "r", offset + start * rows * cols * 2, (k, rows, cols))

    def plain_sum():  # the NumPy idiom: sum each window over its frames
        total = np.zeros((rows, cols))
        for window in windows():
            total += window.sum(axis=0, dtype=np.float64)
        return total / n

    def plain_add():  # the best plain loop: add frame by frame, no temporaries
        total = np.zeros((rows, cols))
        for window in windows():
            for frame in window:
                np.add(total, frame, out=total)
        total /= n
        return total

    def ours_mean():
        return stack.mean().data

    times = interleaved_medians([plain_sum, plain_add, ours_mean], repeats)
    assert np.allclose(plain_sum(), ours_mean())
    results.update(mean_plain_sum_s=times[0], mean_plain_add_s=times[1], mean_ours_s=times[2])
    results.update(
        rss_plain_sum=peak_rss(plain_sum), rss_plain_add=peak_rss(plain_add), rss_ours_mean=peak_rss(ours_mean)
    )

    # drift-corrected average of a central region
    top = (rows - region) // 2
    box = (top, top + region, top, top + region)

    def plain_drift():
        rs = slice(top, top + region)
        first = np.memmap(path, "<u2", "r", offset, (1, rows, cols))
        ref = np.array(first[0, rs, rs], dtype=np.float64)
        del first
        total = np.zeros_like(ref)
        for start in range(0, n, per_block):
            k = min(per_block, n - start)
            window = np.memmap(path, "<u2", "r", offset + start * rows * cols * 2, (k, rows, cols))
            for frame in window[:, rs, rs]:
                moving = np.asarray(frame, dtype=np.float64)
                shift, _, _ = phase_cross_correlation(ref, moving, upsample_factor=20, normalization=None)
                total += ndimage.shift(moving, shift, order=3, mode="nearest")
            del window
        return total / n

    def ours_drift():
        return stack.drift_corrected_mean(box=box, upsample_factor=20)

    drift_plain_t, drift_ours_t = interleaved_medians([plain_drift, ours_drift], max(1, repeats // 3))
    results["rss_ours_drift"] = peak_rss(ours_drift)
    averaged = ours_drift()
    known = np.array(drifts_for(n), dtype=float)
    known -= known[0]
    error = np.abs(averaged.metadata["drifts"] - known).max()
    results.update(drift_plain_s=drift_plain_t, drift_ours_s=drift_ours_t, drift_max_error_px=float(error))

    # load_plane with stride (8, 8) against the full plane, frames spread over the file
    zs = iter(range(10**9))

    def strided():
        return stack.load_plane(z=next(zs) * 37 % n, stride=(8, 8))

    def full():
        return stack.load_plane(z=next(zs) * 37 % n)

    strided_t, full_t = interleaved_medians([strided, full], max(60, 20 * repeats))
    results.update(plane_strided_s=strided_t, plane_full_s=full_t)
    stack.close()

    steps = [value for key, value in results.items() if key.startswith("rss_")]
    results["peak_rss_bytes"] = max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, *steps])
    results["vm_peak_bytes"] = _status("VmPeak")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=6.0, help="size of the stack file (GiB)")
    parser.add_argument("--side", type=int, default=4096, help="frames are side x side pixels")
    parser.add_argument("--cap-gib", type=float, default=1.5, help="address-space cap of the child (GiB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--region", type=int, default=256, help="side of the drift-corrected region")
    parser.add_argument("--dir", default=None, help="where to put the temporary file (default: system temp)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cap = int(args.cap_gib * 2**30)
    if args.child:
        print(json.dumps(child(args.child, cap, args.repeats, args.region)))
        return

    import numpy as np  # noqa: F401 - only the parent writes the file

    frame_bytes = args.side * args.side * 2
    n = max(2, int(args.gib * 2**30) // frame_bytes)
    folder = Path(tempfile.mkdtemp(prefix="stonerimg-bench-", dir=args.dir))
    try:
        path = folder / "stack.npy"
        start = time.perf_counter()
        make_stack(path, n, args.side)
        print(
            f"wrote {path.stat().st_size / 2**30:.2f} GiB ({n} frames of {args.side} x {args.side} uint16) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        here = Path(__file__).resolve().parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here), env.get("PYTHONPATH", "")]))
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(path),
            "--cap-gib",
            str(args.cap_gib),
            "--repeats",
            str(args.repeats),
            "--region",
            str(args.region),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"the capped child failed ({done.returncode}):\n{done.stderr}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    gb = r["nbytes"] / 1e9
    print(
        f"child address space capped at {r['cap_bytes'] / 2**30:.2f} GiB (RLIMIT_AS); "
        f"one memmap of the whole file: {r['whole_memmap']}"
    )
    print(
        f"median of {args.repeats} after a warm-up, file in the page cache; the child's RSS after importing "
        f"NumPy, SciPy, scikit-image and stonerimg: {r['rss_baseline'] / 2**20:.0f} MiB"
    )
    mib = 2**20
    best_plain = min(r["mean_plain_sum_s"], r["mean_plain_add_s"])
    print(
        f"mean image       plain: windows .sum(axis=0)   {r['mean_plain_sum_s']:7.2f} s  "
        f"{gb / r['mean_plain_sum_s']:6.2f} GB/s  peak RSS {r['rss_plain_sum'] / mib:5.0f} MiB"
    )
    print(
        f"                 plain: frame-by-frame add   {r['mean_plain_add_s']:7.2f} s  "
        f"{gb / r['mean_plain_add_s']:6.2f} GB/s  peak RSS {r['rss_plain_add'] / mib:5.0f} MiB"
    )
    print(
        f"                 stonerimg.open().mean()     {r['mean_ours_s']:7.2f} s  {gb / r['mean_ours_s']:6.2f} GB/s  "
        f"peak RSS {r['rss_ours_mean'] / mib:5.0f} MiB  ({100 * best_plain / r['mean_ours_s']:.0f} % of the faster "
        "plain loop; goal >= 80 %)"
    )
    print(
        f"drift-corrected average of {args.region} x {args.region} (phase correlation x20, cubic shift), "
        f"{r['frames']} frames"
    )
    print(f"                 plain memmap + skimage + scipy {r['drift_plain_s']:7.2f} s (no window, one pass)")
    print(
        f"                 stack.drift_corrected_mean     {r['drift_ours_s']:7.2f} s  "
        f"({r['drift_plain_s'] / r['drift_ours_s']:.2f}x plain)  peak RSS {r['rss_ours_drift'] / mib:.0f} MiB; "
        f"largest drift error {r['drift_max_error_px']:.3f} px"
    )
    print(
        f"load_plane       full plane {1e3 * r['plane_full_s']:8.2f} ms   "
        f"stride (8, 8) {1e3 * r['plane_strided_s']:8.2f} ms   "
        f"({r['plane_full_s'] / r['plane_strided_s']:.1f}x faster; goal >= 4x)"
    )
    print(
        f"child peak RSS (largest of the steps) {r['peak_rss_bytes'] / 2**20:.0f} MiB, "
        f"peak address space {r['vm_peak_bytes'] / 2**20:.0f} MiB (file {r['nbytes'] / 2**30:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
