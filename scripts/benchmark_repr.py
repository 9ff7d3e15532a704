"""Time the notebook views (``_repr_html_``, ``_repr_png_``) next to the least a thumbnail costs.

For each image the script prints the median time of

- ``plain``: what any thumbnail needs: a strided 8-bit scaling of the pixels between two
  percentiles, resized with Pillow and encoded as PNG (no metadata, no HTML);
- ``_repr_png_``: the PNG a notebook shows when it cannot show HTML;
- ``_repr_html_``: the whole view (thumbnail, key facts, metadata tree, history);

and the ratios to ``plain``.  The runs are interleaved (``scripts/_timing.py``).  A notebook asks
for both reprs of every object it shows, so their sum is what a cell waits for.

Run: ``python scripts/benchmark_repr.py [--repeats N]`` (the STXM file is used when the sample
data is at ``../shared/data``).
"""

import argparse
import io
from pathlib import Path

import numpy as np
from _timing import interleaved_medians
from PIL import Image

import stonerimg


def plain_thumbnail(data: np.ndarray, longest: int = 256) -> bytes:
    step = max(1, max(data.shape) // (2 * longest))
    small = data[::step, ::step].astype(float)
    low, high = np.percentile(small, [0.5, 99.5])
    scaled = (np.clip((small - low) / ((high - low) or 1.0), 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(scaled)
    picture.thumbnail((longest, longest))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def images():
    rng = np.random.default_rng(0)
    for size in (512, 2048, 4096):
        yield f"{size} x {size} float32", stonerimg.ImageFile(rng.random((size, size), dtype=np.float32))
    sample = (
        Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "stxm" / "Sample_Image_2017-10-15_100.hdf5"
    )
    if sample.exists():
        yield "STXM 100 x 100, 1142 metadata items", stonerimg.load(sample)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"{'image':<38} {'plain':>9} {'png':>9} {'html':>9} {'png/plain':>10} {'html/plain':>11}")
    for name, document in images():
        data = np.asarray(document.data)
        plain, png, page = interleaved_medians(
            [lambda data=data: plain_thumbnail(data), document._repr_png_, document._repr_html_], args.repeats
        )
        print(
            f"{name:<38} {plain * 1e3:7.2f}ms {png * 1e3:7.2f}ms {page * 1e3:7.2f}ms "
            f"{png / plain:10.2f} {page / plain:11.2f}"
        )


if __name__ == "__main__":
    main()
