"""Time stonerimg's drift correction next to scikit-image + SciPy called directly.

On a 1024 x 1024 float64 image (smoothed noise with sharp features, drifted by a
known sub-pixel shift) it times, as the median of several runs:

- ``correct_drift`` (method "phase", upsample_factor 50);
- the same work done by hand: ``skimage.registration.phase_cross_correlation``
  (same upsample_factor and ``normalization=None``, which ``correct_drift`` uses)
  followed by ``scipy.ndimage.shift`` (cubic, mode "nearest");
- the same by hand with scikit-image's default ``normalization="phase"``;
- ``align(method="scharr")`` (Gaussian + Scharr edges, upsample_factor 100).

Prints the medians, the ratio correct_drift / by hand (goal <= 1.3x) and the
shift error of each against the truth.

Run: ``python scripts/benchmark_registration.py [--size N] [--repeats N]``
"""

import argparse

import numpy as np
from _timing import interleaved_medians
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from stonerimg import ImageArray

TRUE_DRIFT = (3.27, -1.62)  # (x, y) pixels


def make_pair(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.standard_normal((size, size)), 4)
    yy, xx = np.mgrid[:size, :size]
    for x0, y0 in rng.uniform(0, size, (60, 2)):
        base += 0.5 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)
    drifted = ndimage.shift(base, (TRUE_DRIFT[1], TRUE_DRIFT[0]), order=3, mode="nearest")
    drifted += 0.01 * rng.standard_normal(drifted.shape)
    return base.astype(np.float64), drifted.astype(np.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    ref, drifted = make_pair(args.size)
    ref_im, drifted_im = ImageArray(ref), ImageArray(drifted)
    found = {}

    def by_hand(normalization):
        def run():
            shift, _error, _phase = phase_cross_correlation(
                ref, drifted, upsample_factor=50, normalization=normalization
            )
            ndimage.shift(drifted, shift, order=3, mode="nearest")
            found[f"by hand ({normalization})"] = (-shift[1], -shift[0])

        return run

    def stoner_drift():
        out = drifted_im.correct_drift(ref_im, upsample_factor=50)
        found["correct_drift"] = out["correct_drift"]

    def stoner_align():
        out = drifted_im.align(ref_im, method="scharr")
        found["align scharr"] = tuple(-s for s in out["align.shift"])

    t_hand, t_hand_phase, t_drift, t_align = interleaved_medians(
        [by_hand(None), by_hand("phase"), stoner_drift, stoner_align], args.repeats
    )

    print(f"{args.size} x {args.size} float64, median of {args.repeats} runs; true drift (x, y) = {TRUE_DRIFT}")
    rows = [
        ("pcc(normalization=None) + ndimage.shift", t_hand, "by hand (None)"),
        ("pcc(normalization='phase') + ndimage.shift", t_hand_phase, "by hand (phase)"),
        ("correct_drift(method='phase')", t_drift, "correct_drift"),
        ("align(method='scharr')", t_align, "align scharr"),
    ]
    for label, seconds, key in rows:
        error = np.hypot(*(np.asarray(found[key]) - TRUE_DRIFT))
        print(f"  {label:45s} {seconds * 1e3:8.1f} ms   |drift error| {error:.3f} px")
    print(f"  ratio correct_drift / (pcc + shift, same normalization): {t_drift / t_hand:.2f}x (goal <= 1.3x)")
    print(f"  ratio correct_drift / (pcc default + shift):              {t_drift / t_hand_phase:.2f}x")


if __name__ == "__main__":
    main()
