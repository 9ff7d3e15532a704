"""``image.mask``: NumPy's mask, with Stoner's helpers that write into the image's mask."""

from __future__ import annotations

import numpy as np

from .draw import DrawProxy, record

__all__ = ["ImageMask"]


class ImageMask(np.ndarray):
    """The mask of an image: a bool array (a view of the image's mask) with Stoner's helpers.

    ``image.mask`` is what NumPy's masked arrays give (True = ignored), and can be
    read, indexed, compared and assigned to as before; it also offers
    :attr:`draw`, :meth:`invert`, :meth:`clear`, :meth:`threshold`,
    :meth:`rotate`, :meth:`select` and :attr:`image`.  The helpers write into
    the image's mask and record the call in the image's history.

    An image without a mask (``numpy.ma.nomask``) shows a read-only mask of
    False values; assigning to it by index or calling a helper first gives the
    image a real mask, so every write either reaches the image or raises (a
    write into a slice of that read-only mask raises ``ValueError``).

    Results of computations with the mask (``~im.mask``, ``im.mask & other``,
    ``im.mask.sum()``) are plain NumPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> im = ImageArray(np.arange(16.0).reshape(4, 4))
    >>> _ = im.mask.draw.rectangle(1.5, 1.5, 2, 2)  # mask the centre 2 x 2 pixels
    >>> float(im.mean()), float(np.arange(16.0)[[0, 1, 2, 3, 4, 7, 8, 11, 12, 13, 14, 15]].mean())
    (7.5, 7.5)
    >>> im.mask
    ImageMask: 4 of 16 pixels masked (25 %), shape (4, 4)
    ....
    .##.
    .##.
    ....
    """

    @classmethod
    def of(cls, owner) -> ImageMask:
        """Return the mask of the masked array ``owner`` as an :class:`ImageMask` (a view, no copy)."""
        current = owner._mask
        if current is np.ma.nomask:
            base = np.zeros(owner.shape, dtype=bool)
            base.flags.writeable = False
            view = base.view(cls)
            view._detached = True
        else:
            view = current.view(cls)
        view._owner = owner
        return view

    def __array_finalize__(self, obj):
        self._owner = None
        self._detached = False

    # ---------------------------------------------------------- writing through
    def _target(self) -> np.ndarray:
        """Return the bool array to write into: the owner's mask (made now if it had none), else this array."""
        owner = self._owner
        if owner is None:
            return self.view(np.ndarray)
        if self._detached:
            if owner._mask is np.ma.nomask:
                base = self.base
                base.flags.writeable = True
                self.flags.writeable = True
                owner._mask = base
                owner._sharedmask = False
            self._detached = False
        return owner._mask.view(np.ndarray)

    def __setitem__(self, index, value):
        self._target()[index] = np.asarray(value) if isinstance(value, np.ndarray) else value

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = tuple(np.asarray(i) if isinstance(i, ImageMask) else i for i in inputs)
        if out is not None:
            kwargs["out"] = tuple(o._target() if isinstance(o, ImageMask) else o for o in out)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def _done(self, name: str, args: tuple = (), kwargs: dict | None = None) -> ImageMask:
        if self._owner is None:
            return self
        record(self._owner, f"mask.{name}", args, kwargs or {})
        return ImageMask.of(self._owner)

    def _needs_owner(self, what: str):
        if self._owner is None:
            raise TypeError(f"mask.{what}: this mask is a copy, not the mask of an image; use image.mask.{what}")
        return self._owner

    # ------------------------------------------------------------------- helpers
    @property
    def draw(self) -> DrawProxy:
        """Mask shapes: ``image.mask.draw.circle(r, c, radius)`` masks a disk (see ``image.draw``).

        ``value=False`` unmasks the shape instead.  Each call returns the mask.
        """
        shape = self.shape[-2:]

        def paint(rr, cc, value, weights):
            target = self._target()
            target[..., rr, cc] = bool(value) if weights is None else bool(value) & (weights >= 0.5)

        def finish(name, args, kwargs):
            return self._done(f"draw.{name}", args, kwargs)

        return DrawProxy(shape, paint, finish, default_value=True)

    def invert(self) -> ImageMask:
        """Mask what was clear and clear what was masked; return the mask."""
        target = self._target()
        np.logical_not(target, out=target)
        return self._done("invert")

    def clear(self) -> ImageMask:
        """Unmask every pixel; return the mask."""
        self._target()[...] = False
        return self._done("clear")

    def threshold(self, value: float | None = None) -> ImageMask:
        """Mask the pixels whose value is above ``value`` (Stoner's rule); return the mask.

        Parameters
        ----------
        value : float, optional
            The threshold; default Otsu's threshold of the unmasked pixels
            (:func:`skimage.filters.threshold_otsu`).  The previous mask is replaced.
        """
        owner = self._needs_owner("threshold")
        data = np.asarray(owner.data)
        if value is None:
            from skimage.filters import threshold_otsu

            value = float(threshold_otsu(np.ma.compressed(owner)))
        self._target()[...] = data > value
        return self._done("threshold", (value,))

    def rotate(self, angle: float, center=None) -> ImageMask:
        """Turn the mask by ``angle`` radians clockwise about ``center`` (x, y); return the mask.

        The same rotation as :func:`~stonerimg.funcs.geometry.rotate` (nearest pixel);
        pixels that come from outside the image are clear.
        """
        from ..array import ImageArray
        from ..funcs.geometry import rotate

        target = self._target()
        turned = rotate(ImageArray(target.copy()), angle, center=center, order=0)
        target[...] = np.asarray(turned.filled(False), dtype=bool)
        return self._done("rotate", (angle,), {} if center is None else {"center": center})

    def select(self, kind: str = "polygon", *, invert: bool = False, timeout: float | None = None) -> ImageMask:
        """Mask a region picked with the mouse, waiting until enter is pressed (Stoner's form).

        Parameters
        ----------
        kind : {"polygon", "ellipse", "box"}, default "polygon"
            The first selector; press ``p`` (polygon), ``c`` (circle/ellipse) or
            ``r`` (rectangle) to switch, enter to finish, escape to cancel.
        invert : bool, default False
            Mask the outside of the shape instead.
        timeout : float, optional
            Give up after this many seconds (``TimeoutError``).

        Raises
        ------
        RuntimeError
            In a notebook or with a non-interactive matplotlib backend, where
            waiting would block the kernel: use ``sel = image.select("polygon")``
            and, in the next cell, ``image.mask = sel``.
        """
        from .select import wait_for_selection

        owner = self._needs_owner("select")
        sel = wait_for_selection(owner, kind, switch_keys=True, timeout=timeout, what="mask.select()")
        shape_mask = sel.mask
        target = self._target()
        target[..., shape_mask if not invert else ~shape_mask] = True
        return self._done("select", (sel.kind,), {"invert": True} if invert else {})

    @property
    def image(self):
        """The mask as a bool :class:`~stonerimg.ImageArray` (a copy) with the image's metadata."""
        from ..array import ImageArray

        metadata = self._owner.metadata if self._owner is not None else None
        return ImageArray(np.array(self, dtype=bool), metadata=metadata)

    # ------------------------------------------------------------------ showing
    def _summary(self) -> str:
        values = self.view(np.ndarray)
        count, total = int(values.sum()), values.size
        share = f"{100 * count / total:.3g} %" if total else "-"
        return f"ImageMask: {count} of {total} pixels masked ({share}), shape {self.shape}"

    def __repr__(self) -> str:
        values = self.view(np.ndarray)
        if values.ndim < 2 or 0 in values.shape:
            return self._summary()
        plane = values.reshape(-1, *values.shape[-2:]).any(axis=0)
        rows, cols = plane.shape
        step_r, step_c = -(-rows // 16), -(-cols // 48)  # at most 16 lines of 48 characters
        padded = np.zeros((-(-rows // step_r) * step_r, -(-cols // step_c) * step_c), dtype=bool)
        padded[:rows, :cols] = plane
        cells = padded.reshape(padded.shape[0] // step_r, step_r, -1, step_c).any(axis=(1, 3))
        lines = ["".join("#" if c else "." for c in row) for row in cells]
        return "\n".join([self._summary(), *lines])

    def _repr_png_(self) -> bytes:
        import io

        from PIL import Image

        plane = self.view(np.ndarray).reshape(-1, *self.shape[-2:]).any(axis=0)
        buffer = io.BytesIO()
        Image.fromarray(np.where(plane, 255, 0).astype(np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue()
