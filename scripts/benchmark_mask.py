"""What ``image.mask`` costs now that it is an ImageMask view with Stoner's helpers.

Compares an ImageArray with a plain ``numpy.ma.MaskedArray`` of the same pixels (ABAB):
reading ``.mask`` and a comparison (``im > x``, which NumPy computes through ``.mask``)
on an unmasked and a masked 2048 x 2048 image; and the mask helpers against the same
mask set by hand with NumPy and scikit-image.

    python scripts/benchmark_mask.py
"""

import numpy as np
from _timing import interleaved_medians
from skimage import draw

from stonerimg import ImageArray

SIZE = 2048
REPEATS = 15


def row(label, ours, plain):
    t_ours, t_plain = interleaved_medians([ours, plain], REPEATS)
    print(f"{label:<42} {t_ours * 1e3:9.3f} ms {t_plain * 1e3:9.3f} ms {t_ours / t_plain:7.2f}")


def main():
    rng = np.random.default_rng(0)
    data = rng.random((SIZE, SIZE))
    print(f"{'operation (2048 x 2048 float64)':<42} {'stonerimg':>12} {'numpy.ma':>12} {'ratio':>7}")
    for masked in (False, True):
        mask = data > 0.99 if masked else np.ma.nomask
        ours, plain = ImageArray(data, mask=mask), np.ma.MaskedArray(data, mask=mask)
        tag = "masked" if masked else "unmasked"
        row(f"read .mask ({tag})", lambda ours=ours: ours.mask, lambda plain=plain: plain.mask)
        row(f"im > 0.5 ({tag})", lambda ours=ours: ours > 0.5, lambda plain=plain: plain > 0.5)

    image = ImageArray(data.copy())
    target = np.zeros((SIZE, SIZE), bool)

    def by_hand():  # the same polygon through skimage.draw, as Stoner's rectangle is drawn
        target[...] = False
        target[draw.polygon([500, 500, 1500, 1500], [400, 1600, 1600, 400], shape=(SIZE, SIZE))] = True
        np.logical_not(target, out=target)

    def helpers():
        image.mask.clear()
        image.mask.draw.rectangle(1000, 1000, 1200, 1000)
        image.mask.invert()
        image.metadata["history"] = []  # keep the history from growing over the repeats

    row("clear + draw.rectangle + invert", helpers, by_hand)


if __name__ == "__main__":
    main()
