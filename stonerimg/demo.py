"""The ``stonerimg demo``: a synthetic XMCD-STXM measurement from start to finish.

It makes a pair of STXM-like transmission images of magnetic domains taken with
opposite circular polarization, the second drifted by a known sub-pixel shift;
saves them as TIFFs; loads them back through the format registry; measures and
corrects the drift; computes the XMCD ratio ``(plus - minus) / (plus + minus)``;
and writes the result as TIFF, PNG and NPY plus a PNG figure.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .array import ImageArray
from .errors import ConversionWarning
from .formats import load
from .formats.npy import sidecar

logger = logging.getLogger(__name__)

#: The drift (x, y) in pixels between the two synthetic images.
TRUE_DRIFT = (3.4, -2.2)


@dataclass
class DemoResult:
    """What :func:`run` measured and wrote."""

    drift_found: tuple[float, float]
    drift_true: tuple[float, float]
    files: list[Path] = field(default_factory=list)


def magnetic_domains(shape, rng: np.random.Generator, width: float = 6.0) -> np.ndarray:
    """Smooth random magnetic domains: values in (-1, 1), walls about ``width`` pixels apart.

    Parameters
    ----------
    shape : (rows, cols)
        Array size.
    rng : numpy.random.Generator
        Source of the random pattern (one ``standard_normal`` draw of ``shape``).
    width : float, default 6
        Standard deviation in pixels of the Gaussian that smooths the noise.
    """
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(rng.standard_normal(shape), width)
    return np.tanh(3 * smooth / smooth.std())


def synthetic_pair(shape=(128, 160), drift=TRUE_DRIFT, seed=1) -> tuple[ImageArray, ImageArray]:
    """Two STXM-like images of the same domains with opposite polarization.

    Parameters
    ----------
    shape : (rows, cols)
        Image size.
    drift : (x, y)
        Shift in pixels of the second (minus) image relative to the first.
    seed : int
        Seed of the random domain pattern and noise.

    Returns
    -------
    plus, minus : ImageArray
        float64 transmission images with ``energy``, ``polarization`` and calibration metadata.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = shape
    pad = 16  # simulate a larger field of view so the drifted image has real data at its edges
    domains = magnetic_domains((rows + 2 * pad, cols + 2 * pad), rng)
    yy, xx = np.mgrid[: rows + 2 * pad, : cols + 2 * pad]
    thickness = 1.0 + 0.3 * np.exp(-((xx - cols / 2) ** 2 + (yy - rows / 2) ** 2) / (2 * (cols / 3) ** 2))
    # dirt particles: sharp non-magnetic features that both polarizations see alike
    for x0, y0 in rng.uniform((0, 0), (cols + 2 * pad, rows + 2 * pad), size=(25, 2)):
        thickness += 1.5 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5**2))

    def transmission(sign: float) -> np.ndarray:
        return 1000.0 * np.exp(-0.8 * thickness * (1 + sign * 0.15 * domains))

    plus = transmission(+1.0)
    minus = ndimage.shift(transmission(-1.0), (drift[1], drift[0]), order=3, mode="nearest")
    window = (slice(pad, pad + rows), slice(pad, pad + cols))
    images = []
    for sign, data in ((+1.0, plus), (-1.0, minus)):
        counts = rng.poisson(data[window]).astype(np.float64)
        image = ImageArray(
            counts,
            metadata={
                "title": f"synthetic STXM, polarization {sign:+.0f}",
                "energy": 706.8,
                "energy.units": "eV",
                "polarization": sign,
                "instrument": "stonerimg demo (synthetic)",
            },
        )
        image.set_calibration(0.05, units="µm")
        images.append(image)
    return images[0], images[1]


def run(out_dir="stonerimg-demo") -> DemoResult:
    """Run the demo, writing into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(drift_found=(0.0, 0.0), drift_true=TRUE_DRIFT)

    plus, minus = synthetic_pair()
    for name, image in (("raw_plus.tif", plus), ("raw_minus.tif", minus)):
        image.save(out / name)
        result.files.append(out / name)

    plus = load(out / "raw_plus.tif").image
    minus = load(out / "raw_minus.tif").image
    # the magnetic contrast reverses with the polarization: register on edges ("scharr")
    corrected = minus.correct_drift(plus, method="scharr")
    result.drift_found = tuple(corrected["correct_drift"])
    border = int(np.ceil(max(abs(d) for d in corrected["drift_shift"]))) + 1
    corrected = corrected.crop(border)
    plus = plus.crop(border)

    xmcd = (plus - corrected) / (plus + corrected)
    xmcd.metadata.update(
        {
            "title": "XMCD ratio (plus - minus) / (plus + minus)",
            "polarization": 0.0,
            "drift_shift": corrected["drift_shift"],
        }
    )
    xmcd["history"] = [*plus.metadata.get("history", []), "xmcd(plus, minus)"]

    for name, image in (
        ("xmcd.tif", xmcd),
        ("xmcd.npy", xmcd),
        ("xmcd.png", _as_uint16(xmcd)),
    ):
        image.save(out / name)
        result.files.append(out / name)
    result.files.append(sidecar(out / "xmcd.npy"))
    figure_path = out / "xmcd_figure.png"
    _figure(plus, corrected, xmcd, figure_path)
    result.files.append(figure_path)
    return result


def _as_uint16(image: ImageArray) -> ImageArray:
    """Scale the image onto the full 16-bit range, for PNG (the precision loss is intended)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return image.normalise(scale=(0.0, 1.0)).convert(np.uint16)


def _figure(plus: ImageArray, minus: ImageArray, xmcd: ImageArray, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .formats import atomic_path

    figure = Figure(figsize=(12, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    cal = xmcd.calibration
    for ax, image, title, cmap in (
        (axes[0], plus, "σ+ transmission", "gray"),
        (axes[1], minus, "σ− transmission (drift corrected)", "gray"),
        (axes[2], xmcd, "XMCD (σ+ − σ−)/(σ+ + σ−)", "RdBu_r"),
    ):
        shown = ax.imshow(np.asarray(image.data), extent=image.extent, cmap=cmap)
        ax.set_title(title)
        ax.set_xlabel(f"x ({cal.x.units})")
        ax.set_ylabel(f"y ({cal.y.units})")
        figure.colorbar(shown, ax=ax, shrink=0.8)
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=100)
