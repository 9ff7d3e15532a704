"""Time ``import stonerimg`` in fresh interpreters, next to ``import numpy`` alone.

Prints the median wall time of several cold imports (each in a new Python
process) and the cost stonerimg adds on top of NumPy, which it needs anyway.
The goal is under 0.3 s for ``import stonerimg``.

Run: ``python scripts/benchmark_import_time.py [--repeats N]``
"""

import argparse
import statistics
import subprocess
import sys

TIMER = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def cold_import_seconds(module: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(module=module)], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    numpy_s = cold_import_seconds("numpy", args.repeats)
    numpy_ma_s = cold_import_seconds("numpy.ma", args.repeats)
    stonerimg_s = cold_import_seconds("stonerimg", args.repeats)
    print(f"median of {args.repeats} cold imports")
    print(f"  import numpy      {numpy_s * 1000:7.1f} ms")
    print(f"  import numpy.ma   {numpy_ma_s * 1000:7.1f} ms")
    print(f"  import stonerimg  {stonerimg_s * 1000:7.1f} ms  (goal < 300 ms)")
    print(
        f"  stonerimg / numpy.ma = {stonerimg_s / numpy_ma_s:.2f}x; stonerimg's own cost "
        f"{(stonerimg_s - numpy_ma_s) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
