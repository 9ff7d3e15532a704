"""Live processing at a camera's pace: 870 x 870 uint16 frames at 50 fps through seven processors.

The set-up of the DigitalMicrograph paper (seed 001): mean, max, centroid, a line
profile, the FFT, the radial profile of the FFT and a 2-D filtered image (Gaussian,
sigma 2), all on every frame of a camera.

1. One frame, one core: each built-in processor's function next to the plain
   NumPy/SciPy call it replaces (median of ``--repeats`` interleaved runs).  The radial
   profile of the FFT is also timed through ``stonerimg.funcs`` (``im.fft().radial_profile()``);
   goal <= 20 ms (the paper: about 1.5 s).
2. Live: a :class:`SimulatedCamera` at ``--fps`` for ``--duration`` seconds through a
   :class:`Session` with the seven processors (one thread each, the session's default;
   ``--workers N`` lets at most N compute at once); prints each processor's sustained
   frames/s, drops and latency (median, p95: from the frame's arrival to its result),
   the source's rate and the CPU the whole process used (goal: no drops, well under 2
   cores).  Each processor is run once on a first frame before the session starts, so
   start-up costs (imports, FFT plans, ring indices) are not counted as drops.

Run: ``python scripts/benchmark_live.py [--size 870] [--fps 50] [--duration 20] [--repeats 15] [--workers N]
[--processes]``
"""

import argparse
import os
import time

import numpy as np
import scipy.fft
from _timing import interleaved_medians
from scipy import ndimage

from stonerimg import ImageArray
from stonerimg.live import Session, SimulatedCamera, builtin, make_frame
from stonerimg.live import builtins as fast

PROCESSORS = ["mean", "max", "centroid", "line_profile", "fft", "fft_radial_profile", "gaussian"]


def plain_fft_radial_profile(data):
    """|FFT| (full plane, shifted) and its mean in 1-step rings with np.bincount: the plain-library version."""
    rows, cols = data.shape
    magnitude = np.abs(np.fft.fftshift(scipy.fft.fft2(data.astype(np.float32), workers=1)))
    fy = (1 / rows) * (np.arange(rows) - rows // 2.0)  # frequencies; bins one step wide, as funcs.fourier
    fx = (1 / cols) * (np.arange(cols) - cols // 2.0)
    r = np.sqrt(np.add.outer(fy * fy, fx * fx)) / min(1 / rows, 1 / cols)
    index = r.astype(np.intp).ravel()
    return np.bincount(index, weights=magnitude.ravel()) / np.bincount(index)


def single_frame(frame: np.ndarray, repeats: int) -> None:
    writable = ImageArray(frame)  # not read-only: never served from the FFT cache, so every call computes
    fs = frame.astype(np.float32)
    level = float(frame.min()) + 0.5 * (float(frame.max()) - float(frame.min()))
    pairs = [
        ("mean", lambda: fast.statistic(writable, "mean"), lambda: np.mean(frame, dtype=np.float64)),
        ("max", lambda: fast.statistic(writable, "max"), lambda: np.max(frame)),
        (
            "centroid",
            lambda: fast.centroid(writable),
            lambda: ndimage.center_of_mass(np.clip(fs - level, 0, None)),
        ),
        ("line_profile", lambda: fast.line_profile(writable), lambda: frame[434:435].mean(axis=0)),
        (
            "fft",
            lambda: fast.fft_image(writable),
            lambda: np.log1p(np.abs(np.fft.fftshift(scipy.fft.fft2(fs, workers=1)))),
        ),
        ("fft_radial_profile", lambda: fast.fft_radial_profile(writable), lambda: plain_fft_radial_profile(frame)),
        ("gaussian", lambda: fast.gaussian(writable, 2.0), lambda: ndimage.gaussian_filter(fs, 2.0)),
    ]
    funcs = [f for _, a, b in pairs for f in (a, b)]
    medians = interleaved_medians(funcs, repeats)
    print(f"\n1. one frame, one core (median of {repeats} runs)")
    print(f"{'processor':<20} {'stonerimg.live':>15} {'plain numpy/scipy':>18} {'ratio':>6}")
    total = 0.0
    for i, (name, _, _) in enumerate(pairs):
        ours, plain = medians[2 * i], medians[2 * i + 1]
        total += ours
        print(f"{name:<20} {1e3 * ours:>12.2f} ms {1e3 * plain:>15.2f} ms {ours / plain:>6.2f}")
    print(f"{'all seven':<20} {1e3 * total:>12.2f} ms  (one core's work per frame)")

    image = ImageArray(frame)
    t_funcs = interleaved_medians([lambda: image.fft().radial_profile(centre="origin")], max(3, repeats // 3))[0]
    t_fast = medians[2 * 5]
    print(
        f"radial profile of the FFT: stonerimg.live {1e3 * t_fast:.2f} ms "
        f"(goal <= 20 ms: {'met' if t_fast <= 0.020 else 'NOT met'}); "
        f"stonerimg.funcs fft().radial_profile() {1e3 * t_funcs:.1f} ms; "
        f"plain numpy/scipy {1e3 * medians[2 * 5 + 1]:.2f} ms"
    )


def live(size: int, fps: float, duration: float, processes: bool, workers) -> None:
    camera = SimulatedCamera((size, size), fps=fps, drift=(0.3, 0.2), noise=20)
    processors = [builtin(name) for name in PROCESSORS]
    first = make_frame(camera.render(0), 0)
    for p in processors:
        p.apply(first)  # warm up: imports, FFT plans, cached ring indices
    mode = "one worker process per processor" if processes else "threads"
    mode += f", workers={workers or len(processors)}"
    print(f"\n2. live: {size} x {size} uint16 at {fps:g} fps for {duration:g} s, seven processors ({mode})")
    cpu = time.process_time()
    session = Session(camera, processors, use_processes=processes, workers=workers)
    with session:
        time.sleep(duration)
    stats = session.stats()
    cores = (time.process_time() - cpu) / stats.elapsed
    print(stats.table())
    dropped = sum(p.dropped for p in stats.processors.values())
    slowest = min(p.rate for p in stats.processors.values())
    print(
        f"CPU used by this process: {cores:.2f} cores (of {os.cpu_count()})"
        + (" (not counting the worker processes)" if processes else "")
    )
    print(
        f"slowest processor {slowest:.2f} frames/s of {stats.rate:.2f} read; {dropped} frames dropped in all; "
        f"goal no drops: {'met' if dropped == 0 else 'NOT met'}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=870)
    parser.add_argument("--fps", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--processes", action="store_true", help="run the processors in worker processes")
    parser.add_argument("--workers", type=int, help="processors computing at once (default: one per processor)")
    args = parser.parse_args()
    print(f"{args.size} x {args.size} uint16 frames, {os.cpu_count()} CPU(s), load average {os.getloadavg()}")

    frame = SimulatedCamera((args.size, args.size), fps=None, noise=20).render(0)
    # the results must agree before the times mean anything
    reference = plain_fft_radial_profile(frame)
    ours = fast.fft_radial_profile(ImageArray(frame))
    assert np.allclose(ours[: len(reference)], reference, rtol=1e-3)
    assert np.allclose(fast.gaussian(ImageArray(frame)), ndimage.gaussian_filter(frame.astype(np.float32), 2.0))
    single_frame(frame, args.repeats)
    live(args.size, args.fps, args.duration, args.processes, args.workers)


if __name__ == "__main__":
    main()
