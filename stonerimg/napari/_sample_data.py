"""Sample data for napari's File > Open Sample menu: synthetic, made on the spot, no download."""

from __future__ import annotations

import numpy as np

from ..array import ImageArray
from ..demo import magnetic_domains, synthetic_pair
from ._layers import LayerData, layers_from

__all__ = ["kerr_domains", "kerr_domains_image", "xmcd_pair"]

#: Pixel size of the synthetic Kerr image: the Kerr microscope's 20x objective (as in the sample PNGs).
KERR_PIXEL_UM = 0.258186


def xmcd_pair() -> list[LayerData]:
    """Make the demo's synthetic XMCD-STXM pair (``stonerimg demo``): two polarizations, the second drifted."""
    plus, minus = synthetic_pair()
    return [*layers_from(plus), *layers_from(minus)]


def kerr_domains_image(shape=(256, 320), seed: int = 3) -> ImageArray:
    """Make a synthetic 16-bit Kerr microscope image of magnetic domains.

    Sharp-walled domains (the demo's domain pattern, thresholded and slightly
    blurred) seen with a few percent of Kerr contrast on an uneven
    illumination, with shot noise; calibrated like the Kerr sample files.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = shape
    domains = ndimage.gaussian_filter(np.sign(magnetic_domains(shape, rng, width=10.0)), 1.0)
    yy, xx = np.mgrid[:rows, :cols]
    illumination = 1.0 - 0.25 * ((xx - 0.6 * cols) ** 2 + (yy - 0.4 * rows) ** 2) / (rows**2 + cols**2)
    counts = 30000.0 * illumination * (1.0 + 0.04 * domains)
    data = np.clip(rng.poisson(counts), 0, 65535).astype(np.uint16)
    image = ImageArray(
        data,
        metadata={
            "title": "synthetic Kerr domains",
            "field": 0.0,
            "field.units": "Oe",
            "instrument": "stonerimg sample data (synthetic)",
        },
    )
    return image.set_calibration(KERR_PIXEL_UM, units="µm")


def kerr_domains() -> list[LayerData]:
    """Make the synthetic Kerr domain image as napari layer data."""
    return layers_from(kerr_domains_image())
