"""The napari plugin of stonerimg (``pip install "stonerimg[napari]"``).

napari finds it through the ``napari.manifest`` entry point, which names the
manifest ``napari.yaml`` shipped in this package.  It contributes:

- a reader for every file a registered stonerimg format reads (third-party
  format plugins included): calibrated layers, lazy (dask) stacks for files a
  format can open lazily, the mask as a Labels layer (:mod:`._reader`);
- a writer of an Image layer (and an optional Labels mask) to TIFF, NPY or
  HDF5 through the format registry (:mod:`._writer`);
- sample data: a synthetic XMCD-STXM pair and a Kerr domain image (:mod:`._sample_data`);
- docked widgets: drift correction, the XMCD map, ``level_image`` and the radial
  profile of the FFT (:mod:`._widgets`).

Nothing here is imported by ``import stonerimg``, and this package imports
napari, Qt and magicgui only inside the functions napari calls.
"""

from ._layers import image_from_layer, layers_from

__all__ = ["image_from_layer", "layers_from"]
