"""Text from instrument files: defensive decoding and uniform unit names."""

from __future__ import annotations

import numpy as np

__all__ = ["decode_text", "normalise_units"]

_UNITS = {"\u03bc": "\u00b5", "\\u00B5": "\u00b5", "\\u00b5": "\u00b5"}  # Greek mu, ImageJ's escape -> micro sign
_UNIT_NAMES = {"um": "\u00b5m", "micron": "\u00b5m", "microns": "\u00b5m"}


def decode_text(value) -> str:
    r"""Return ``value`` as text, decoding bytes as UTF-8 or else Latin-1; never raises.

    Parameters
    ----------
    value : bytes, ``numpy.bytes_``, str, numpy.ndarray or object
        Bytes (trailing NUL padding is dropped) or a 0-d / one-element array of
        bytes or text, as h5py returns fixed-length strings.  Text that h5py decoded
        with ``surrogateescape`` has its undecodable bytes read as Latin-1.  An array of several
        strings gives them joined by newlines; anything else gives ``str(value)``
        and ``None`` gives ``""``.

    Returns
    -------
    str
        The decoded text.  Characters are kept as they are: a Greek mu (UTF-8
        ``b"\xce\xbc"``) stays U+03BC; :func:`normalise_units` makes unit strings uniform.

    Examples
    --------
    >>> decode_text(b"\xce\xbcm") == "\u03bcm", decode_text(b"\xb5m") == "\u00b5m"
    (True, True)
    >>> import numpy as np
    >>> decode_text(np.array([b"NXstxm"]))
    'NXstxm'
    """
    try:
        if value is None:
            return ""
        if isinstance(value, np.ndarray):
            if value.size == 1:
                return decode_text(value.reshape(-1)[0])
            return "\n".join(decode_text(item) for item in value.reshape(-1).tolist())
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value).rstrip(b"\x00")
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
        if isinstance(value, str):
            # h5py decodes variable-length strings with "surrogateescape": undecodable
            # bytes arrive as U+DC80..U+DCFF; read those bytes as Latin-1
            return "".join(chr(ord(c) - 0xDC00) if "\udc80" <= c <= "\udcff" else c for c in value)
        return str(value)
    except Exception:  # text for a label must never stop a load
        try:
            return repr(value)
        except Exception:
            return ""


def normalise_units(units) -> str:
    r"""Return a unit string in the form the calibration keys use.

    The text is decoded (:func:`decode_text`) and stripped; the Greek mu (U+03BC)
    becomes the micro sign (U+00B5) that the rest of the library writes, and
    ``um``/``micron``/``microns`` become ``µm``.

    Examples
    --------
    >>> normalise_units(b"\xce\xbcm") == normalise_units(b"\xb5m") == "\u00b5m"
    True
    >>> normalise_units(b" nm ")
    'nm'
    """
    text = decode_text(units).strip()
    for old, new in _UNITS.items():
        text = text.replace(old, new)
    return _UNIT_NAMES.get(text.lower(), text)
