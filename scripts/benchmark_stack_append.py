"""Time appending frames one by one to an ImageStack next to filling a preallocated NumPy array.

Appends ``--frames`` frames of ``--size`` x ``--size`` (uint16, as a camera gives
them; ``--dtype`` to change) to an empty :class:`~stonerimg.ImageStack`, one
``append`` at a time, and, interleaved (ABAB), fills a NumPy array of the final
size allocated up front (the floor: every byte written once, every page touched
once).  The stack's buffer doubles when full, so appending costs amortised O(1)
copies per frame.  Prints the medians, the ratio and the time per frame.

Run: ``python scripts/benchmark_stack_append.py [--frames N] [--size N] [--dtype uint16] [--repeats N]``
"""

import argparse

import numpy as np
from _timing import interleaved_medians

from stonerimg import ImageStack


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--dtype", default="uint16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 4000, (args.size, args.size)).astype(args.dtype)
    n = args.frames

    def stack_append():
        stack = ImageStack()
        for _ in range(n):
            stack.append(frame)
        assert stack.shape == (n, *frame.shape)

    def preallocated():
        buffer = np.empty((n, *frame.shape), frame.dtype)
        for i in range(n):
            buffer[i] = frame

    t_stack, t_plain = interleaved_medians([stack_append, preallocated], args.repeats)
    size = n * frame.nbytes / 2**20
    print(f"{n} frames of {args.size} x {args.size} {args.dtype} ({size:.0f} MiB)")
    print(f"ImageStack.append one by one {t_stack:6.2f} s  ({t_stack / n * 1e3:.2f} ms per frame; goal < 2 s)")
    print(f"preallocated NumPy fill      {t_plain:6.2f} s  ratio {t_stack / t_plain:.2f}x")


if __name__ == "__main__":
    main()
