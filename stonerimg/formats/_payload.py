"""What stonerimg stores beside the pixels, and how it reads what Stoner stored.

Our own files carry one JSON document (in a TIFF's image description, a PNG
iTXt chunk or an ``.npy`` sidecar)::

    {"stonerimg": 1, "dtype": "<u2", "shape": [rows, cols],
     "metadata": {...lossless Metadata encoding...},
     "mask": <packed bits of the mask, only when something is masked>,
     "format": <name of the registered format whose ImageFile subclass was saved, e.g. "stxm">}

The ``format`` item brings an ``STXMImage`` or ``KerrImage`` back as its class: on
loading, the name is looked up in the format registry (an allow-list: only classes
of registered formats), never imported from the file.

Files saved by the Stoner package carry ``key{Type}=value`` strings instead;
:func:`stoner_metadata` parses them as literals (never evaluated).
"""

from __future__ import annotations

import contextvars
import json
import logging

import numpy as np

from ..errors import FormatMismatch
from ..metadata import Metadata, _check_numeric_dtype, _encode, decode_json, parse_typed_value, split_typed_key

PAYLOAD_VERSION = 1
PAYLOAD_KEY = "stonerimg"

logger = logging.getLogger(__name__)

#: The registered format name of the document being saved (set by :func:`stonerimg.formats.save`).
saving_document_format: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "saving_document_format", default=None
)


def encode_payload(image, **extra) -> str:
    """Encode the JSON document for ``image`` (its metadata, dtype, shape and mask, and any ``extra`` items)."""
    doc = {
        PAYLOAD_KEY: PAYLOAD_VERSION,
        "dtype": image.dtype.str,
        "shape": list(image.shape),
        "metadata": image.metadata.to_jsonable(),
        **extra,
    }
    mask = np.ma.getmask(image)
    if mask is not np.ma.nomask and mask.any():
        doc["mask"] = _encode(np.packbits(mask, axis=None), "mask")
    document_format = saving_document_format.get()
    if document_format:
        doc["format"] = document_format
    return json.dumps(doc, allow_nan=False)


def is_payload(text) -> bool:
    """Tell cheaply whether ``text`` looks like our JSON document."""
    return isinstance(text, str) and text.lstrip().startswith("{") and f'"{PAYLOAD_KEY}"' in text


def read_payload(text: str) -> tuple[np.dtype, tuple[int, ...], Metadata, np.ndarray | None, dict]:
    """Read our JSON document without the pixels.

    Returns
    -------
    (dtype, shape, metadata, packed mask or None, document)
        The recorded dtype and shape, the metadata, the mask as packed bits
        (see :func:`unpack_mask`) and the whole decoded document.

    Raises
    ------
    ValueError
        If the document is malformed.
    """
    doc = decode_json(text)
    if not isinstance(doc, dict) or doc.get(PAYLOAD_KEY) != PAYLOAD_VERSION:
        raise ValueError(f"not a version-{PAYLOAD_VERSION} stonerimg metadata document")
    dtype = _check_numeric_dtype(doc["dtype"], "recorded dtype")
    shape = tuple(int(n) for n in doc["shape"])
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("recorded metadata is not an object")
    bits = np.asarray(doc["mask"], dtype=np.uint8) if "mask" in doc else None
    return dtype, shape, Metadata(metadata), bits, doc


def unpack_mask(bits: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Return the bool mask of ``shape`` from the packed bits of :func:`read_payload` (None stays None)."""
    if bits is None:
        return None
    return np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)


def decode_payload(text: str, data: np.ndarray) -> tuple[np.ndarray, Metadata, np.ndarray | None]:
    """Apply our JSON document to pixel ``data`` read from a file.

    Returns
    -------
    (data, metadata, mask)
        ``data`` cast back to the recorded dtype and reshaped to the recorded shape;
        ``mask`` is None when nothing was masked.

    Raises
    ------
    ValueError
        If the document is malformed or does not fit the pixels.
    """
    data, metadata, mask, _ = _decode(text, data)
    return data, metadata, mask


def _decode(text: str, data: np.ndarray):
    dtype, shape, metadata, bits, doc = read_payload(text)
    if int(np.prod(shape)) != data.size:
        raise ValueError(f"recorded shape {shape} does not fit the {data.shape} pixels in the file")
    data = data.reshape(shape)
    if data.dtype != dtype:
        data = data.astype(dtype)
    return data, metadata, unpack_mask(bits, shape), doc


def recorded_class(name, default: type) -> type:
    """Return the ImageFile subclass a payload's ``format`` item names, from the registry only, else ``default``.

    Only a registered format's class that is ``default`` or a subclass of it is
    taken; anything else (an unknown name, a format that is not installed here)
    gives ``default``.  No module named in a file is ever imported.
    """
    if not isinstance(name, str) or not name:
        return default
    from . import _all_formats

    fmt = _all_formats().get(name)
    if fmt is None:
        logger.info("the file records format %r, which is not registered here: loading it as %s", name, default)
        return default
    cls = fmt.image_class
    return cls if isinstance(cls, type) and issubclass(cls, default) else default


def payload_document(text: str, data: np.ndarray, default: type | None = None):
    """Build the document our JSON document describes: pixels, metadata, mask, in its recorded class.

    ``default`` (ImageFile when None) is the class of a file that records none.
    """
    from ..imagefile import ImageFile

    data, metadata, mask, doc = _decode(text, data)
    cls = recorded_class(doc.get("format"), default or ImageFile)
    return cls(data, mask=np.ma.nomask if mask is None else mask, metadata=metadata)


def stoner_metadata(entries) -> Metadata:
    """Parse Stoner's exported metadata: a list of ``"key{Type}=value"`` strings."""
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise FormatMismatch("not Stoner metadata (expected a list of 'key{Type}=value' strings)")
    metadata = Metadata()
    for entry in entries:
        key, sep, value = entry.partition("}=")
        if sep:
            name, type_name = split_typed_key(key + "}")
        else:
            name, _, value = entry.partition("=")
            type_name = None
        metadata[name] = parse_typed_value(value, type_name)
    return metadata


def stoner_dtype(metadata: Metadata, data: np.ndarray) -> np.ndarray:
    """Restore the dtype Stoner recorded as ``ImageArray.dtype`` (only plain numeric dtypes)."""
    name = metadata.get("ImageArray.dtype")
    if not isinstance(name, str):
        return data
    try:
        dtype = _check_numeric_dtype(name, "ImageArray.dtype")
    except TypeError:
        return data
    return data.astype(dtype) if data.dtype != dtype else data


#: Characters of typed text one file may have parsed into values; beyond it values stay strings.
MAX_TYPED_TEXT = 1_000_000


def typed_text_metadata(items) -> Metadata:
    """Metadata from ``(key, text)`` pairs whose keys may carry ``{Type}`` hints (PNG text chunks).

    At most :data:`MAX_TYPED_TEXT` characters of one file are parsed (about a
    second of work); the values beyond are kept as the text they are.
    """
    parsed = {}
    budget = MAX_TYPED_TEXT
    for key, text in items:
        name, type_name = split_typed_key(str(key))
        text = str(text)
        if type_name is not None:
            if len(text) > budget:
                type_name = None
            else:
                budget -= len(text)
        parsed[name] = parse_typed_value(text, type_name)
    return Metadata(parsed)  # one pass of Metadata's checks (string keys, read-only arrays)
