"""The ``@image_function`` decorator: one plain function, bound to ImageArray and ImageFile."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import ImageArray
from ..imagefile import ImageFile

__all__ = ["as_image", "image_function", "registered"]

_REGISTRY: dict[str, Callable] = {}
_depth = threading.local()


def registered() -> dict[str, Callable]:
    """Return ``{name: function}`` for every registered image function."""
    return dict(_REGISTRY)


def as_image(obj) -> ImageArray:
    """Return ``obj`` as an :class:`ImageArray` (no copy for arrays and images)."""
    if isinstance(obj, ImageArray):
        return obj
    if isinstance(obj, ImageFile):
        return obj.image
    return ImageArray(obj)


def describe(value: Any) -> str:
    """Describe a value briefly for a history entry."""
    if isinstance(value, (ImageArray, ImageFile)):
        name = value.filename or "image"
        return f"<{name} {value.shape} {value.dtype}>"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '') or ''}.{value.__qualname__}".lstrip(".")
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _immutable(value) -> bool:
    """Tell whether a history argument reads the same later (so its entry can be formatted later)."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return True
    return type(value) is tuple and all(map(_immutable, value))


def _history_entry(name: str, args: tuple, kwargs: dict) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def image_function(func: Callable | None = None, *, name: str | None = None):
    """Register ``func(image, ...)`` as an image function.

    The function becomes a method of :class:`~stonerimg.ImageArray` (returning the
    result; the input image is never changed) and of :class:`~stonerimg.ImageFile`
    (which takes the result and returns itself, so calls chain; results that are
    not images are returned as they are).  An ImageFile takes a result of its
    image's shape and dtype **in place**: the pixels and mask are copied into
    the existing buffer (when it is writeable and no other argument of the
    call shares it), so every view of that buffer and a memory-mapped file see
    them; any other result replaces ``.image``.
    Every call that returns an image appends one readable entry to the
    result's ``metadata["history"]``.

    Parameters
    ----------
    func : callable
        A function whose first parameter is the image.
    name : str, optional
        The method name (default: the function's name).
    """
    if func is None:
        return functools.partial(image_function, name=name)
    method_name = name or func.__name__
    if method_name in _REGISTRY:
        raise ValueError(f"an image function named {method_name!r} is already registered")

    @functools.wraps(func)
    def wrapper(image, *args, **kwargs):
        image = as_image(image)
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            result = func(image, *args, **kwargs)
        finally:
            _depth.value = depth
        if isinstance(result, ImageArray):
            inputs = [image]
            for value in (*args, *kwargs.values()) if kwargs else args:
                if isinstance(value, ImageArray):
                    inputs.append(value)
            own = result.__dict__.get("_meta_own")
            for value in inputs:
                if result is value:
                    result = result.view(type(result))  # a new view with its own metadata
                    break
                if own is not None and own is value.__dict__.get("_meta_own"):
                    result._metadata = own.copy()
                    break
            if depth == 0:
                # formatted when the metadata is first read, unless an argument could change before then
                if all(map(_immutable, args)) and (not kwargs or all(map(_immutable, kwargs.values()))):
                    result._add_history((method_name, args, kwargs))
                else:
                    result._add_history(_history_entry(method_name, args, kwargs))
        return result

    @functools.wraps(wrapper)
    def file_method(self, *args, **kwargs):
        result = wrapper(self.image, *args, **kwargs)
        if isinstance(result, ImageArray):
            self._take_result(result, (*args, *kwargs.values()))  # in the buffer when shape and dtype allow
            return self
        return result

    _REGISTRY[method_name] = wrapper
    setattr(ImageArray, method_name, wrapper)
    setattr(ImageFile, method_name, file_method)
    return wrapper
