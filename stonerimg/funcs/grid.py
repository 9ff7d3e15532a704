"""Grid: re-sample an image measured at scattered positions onto a regular grid."""

from __future__ import annotations

import numpy as np

from ..array import ImageArray
from ._binding import image_function

__all__ = ["gridimage"]


def _grid_from_metadata(image: ImageArray, names: tuple[str, str], what: str) -> tuple[np.ndarray, np.ndarray]:
    md = image.metadata
    missing = [name for name in names if name not in md]
    if missing:
        raise ValueError(f"{what}: not given and the image has no metadata {' or '.join(map(repr, missing))}")
    grids = tuple(np.asarray(md[name], dtype=float) for name in names)
    for name, grid in zip(names, grids, strict=True):
        if grid.shape != image.shape[-2:]:
            raise ValueError(f"{what}: metadata {name!r} has shape {grid.shape}, the image {image.shape[-2:]}")
    return grids


@image_function
def gridimage(
    image: ImageArray,
    points=None,
    xi=None,
    method: str = "linear",
    fill_value=None,
    rescale: bool = False,
) -> ImageArray:
    """Re-sample the image from the positions where each pixel was measured onto a regular grid.

    Scanning instruments (STXM, scanning probes) record where each pixel was
    really measured (``actual_x``, ``actual_y``), which wanders a little from
    the nominal grid (``sample_x``, ``sample_y``).  This interpolates the
    measured values onto the nominal grid with :func:`scipy.interpolate.griddata`.

    Parameters
    ----------
    image : ImageArray
        The image; pixel ``[i, j]`` was measured at ``(points_x[i, j], points_y[i, j])``.
    points : (x, y) arrays, optional
        Measured positions, each shaped like the image; default the metadata
        ``actual_x`` and ``actual_y``.
    xi : (x, y) arrays, optional
        The grid to sample onto, each shaped like the image; default the metadata
        ``sample_x`` and ``sample_y``.
    method : {"linear", "nearest", "cubic"}
        Interpolation method of :func:`scipy.interpolate.griddata`.
    fill_value : float, optional
        Value for grid points outside the measured area.  By default those pixels
        take the nearest measured value and are **masked**.
    rescale : bool, default False
        Rescale the points to the unit square before interpolating.

    Returns
    -------
    ImageArray
        The re-gridded image; its ``actual_x``/``actual_y`` metadata become the grid
        it now lies on, so applying ``gridimage`` twice changes nothing more.

    Examples
    --------
    A ramp ``2x + y`` measured half a pixel to the right of the nominal grid:

    >>> import numpy as np
    >>> gy, gx = np.mgrid[:4, :5].astype(float)
    >>> image = ImageArray(2 * (gx + 0.5) + gy, metadata={"sample_x": gx, "sample_y": gy,
    ...                                                   "actual_x": gx + 0.5, "actual_y": gy})
    >>> regridded = image.gridimage()
    >>> regridded[1].tolist()  # on the grid the ramp is 2x + y; x = 0 was not measured: masked
    [None, 3.0, 5.0, 7.0, 9.0]
    """
    from scipy.interpolate import griddata

    if image.ndim != 2:
        raise ValueError(f"image: gridimage needs a 2-D image, not shape {image.shape}")
    px, py = _grid_from_metadata(image, ("actual_x", "actual_y"), "points") if points is None else points
    gx, gy = _grid_from_metadata(image, ("sample_x", "sample_y"), "xi") if xi is None else xi
    px, py, gx, gy = (np.asarray(a, dtype=float) for a in (px, py, gx, gy))
    if px.shape != image.shape or py.shape != image.shape:
        raise ValueError(f"points: each must have the image's shape {image.shape}, not {px.shape} and {py.shape}")
    values = np.asarray(image.data, dtype=float).ravel()
    measured = np.column_stack([px.ravel(), py.ravel()])
    target = (gx, gy)
    gridded = griddata(measured, values, target, method=method, fill_value=np.nan, rescale=rescale)
    outside = np.isnan(gridded)
    if outside.any():
        if fill_value is None:
            gridded[outside] = griddata(measured, values, target, method="nearest", rescale=rescale)[outside]
        else:
            gridded[outside] = fill_value
    result = image._derive(gridded.astype(np.result_type(image.dtype, np.float32)), keep_mask=False)
    mask = np.ma.getmaskarray(image) | (outside if fill_value is None else False)
    if mask.any():
        result.mask = mask
    result.metadata["actual_x"] = gx.copy()
    result.metadata["actual_y"] = gy.copy()
    return result
