"""Measure how well ImageStack.align and ImageFolder.align recover known sub-pixel shifts of a real image.

Shifts ``kerr/kermit.png`` (a real Kerr microscope image, 479 x 359) by known
sub-pixel amounts with a Fourier shift (exact for a periodic image, so no
interpolation of ours is being compared with itself), stacks the copies, runs
``align`` (methods "phase" and "scharr") and ``correct_drift``, and prints the
largest error of the recovered shifts in pixels (goal < 0.05 px) and the time
taken.

Run: ``python scripts/align_accuracy.py [--data DIR] [--frames N]``
"""

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from stonerimg import ImageStack

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent / ".." / "shared" / "data"))
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    kermit = np.asarray(Image.open(Path(args.data) / "kerr" / "kermit.png"), dtype=np.float64)
    rng = np.random.default_rng(1)
    shifts = np.vstack([[0.0, 0.0], rng.uniform(-4, 4, (args.frames - 1, 2))])  # (dx, dy)
    spectrum = np.fft.fft2(kermit)
    frames = [np.fft.ifft2(ndimage.fourier_shift(spectrum, (dy, dx))).real for dx, dy in shifts]
    print(f"{args.frames} copies of kermit.png {kermit.shape[1]} x {kermit.shape[0]}, shifts up to 4 px")
    for label, call, key, sign in (
        ("align phase", lambda s: s.align(0, method="phase", window=None), "align.shift", -1),
        ("align scharr", lambda s: s.align(0, method="scharr", window=None), "align.shift", -1),
        ("correct_drift", lambda s: s.correct_drift(0, upsample_factor=100), "correct_drift", 1),
    ):
        stack = ImageStack([f.copy() for f in frames])
        start = time.perf_counter()
        call(stack)
        seconds = time.perf_counter() - start
        found = np.array([stack.metadata_of(i).get(key, (0.0, 0.0)) for i in range(len(stack))]) * sign
        error = np.abs(found - shifts).max()
        print(f"{label:14s} largest error {error:.4f} px   ({seconds:.2f} s for {len(stack)} frames)")


if __name__ == "__main__":
    main()
