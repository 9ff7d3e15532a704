"""CSV text images with a metadata header: an example stonerimg format plugin.

A csvimage file is plain text that a spreadsheet can open (and
``numpy.loadtxt(path, delimiter=",")`` can read when nothing is masked)::

    # csvimage uint16
    # sample = "Py disc"
    # energy = 706.8
    # calibration.x.scale = 0.05
    0,1,2,3
    4,,6,7

- The first line is the signature ``# csvimage`` and the dtype of the pixels.
- Each further ``# key = value`` line is one metadata item.  The value is JSON as
  :meth:`stonerimg.Metadata.to_jsonable` encodes it, so every value stonerimg can
  hold (arrays, tuples, datetimes, NaN, ...) comes back equal and of the same type;
  a value that is not JSON (``# sample = Py disc``, written by hand) is kept as a string.
- Then one line of comma-separated numbers per image row; an empty cell is a
  masked pixel (the value under the mask is not kept: it loads as 0).

Nothing read from a file is evaluated: the header is decoded by
:meth:`stonerimg.Metadata.from_json` and the numbers by NumPy's string conversion.
"""

from __future__ import annotations

import json

import numpy as np

from stonerimg import ImageFile, Metadata
from stonerimg.errors import FormatMismatch
from stonerimg.formats import Format, atomic_path

__all__ = ["FORMAT", "SIGNATURE", "load", "save"]

#: The first bytes of every csvimage file.
SIGNATURE = b"# csvimage "

#: dtype kinds a csvimage file holds: bool, signed and unsigned integers, floats.
_KINDS = "biuf"


def load(path) -> ImageFile:
    """Read a csvimage file.

    csvimage has no loader options, so ``load`` takes none: the registry checks
    the options a user passes against this signature, and one it does not name is
    a TypeError naming the format and what it accepts.

    Parameters
    ----------
    path : pathlib.Path
        The file (opened read-only).

    Returns
    -------
    stonerimg.ImageFile
        The image, its metadata and its mask.

    Raises
    ------
    stonerimg.errors.FormatMismatch
        If the file does not start with the csvimage signature (``load`` then
        tries the next format).
    ValueError
        If it starts like a csvimage file but is malformed; the message gives
        the line.
    """
    with open(path, "rb") as handle:
        if handle.read(len(SIGNATURE)) != SIGNATURE:
            raise FormatMismatch("no '# csvimage' signature on its first line")
        try:
            lines = (SIGNATURE + handle.read()).decode("utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    dtype = _dtype(lines[0][len(SIGNATURE) :].strip(), f"{path}: line 1")
    raw = {}
    body = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("#"):
            key, sep, text = line[1:].partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{path}: line {number}: expected '# key = value', got {line!r}")
            try:
                raw[key.strip()] = json.loads(text)
            except json.JSONDecodeError:
                raw[key.strip()] = text.strip()  # written by hand: keep the text
        elif line.strip():
            body.append((number, line.split(",")))
    try:
        metadata = Metadata.from_json(json.dumps(raw))  # rebuilds arrays, tuples, ...; never evaluates
    except ValueError as err:
        raise ValueError(f"{path}: bad metadata in the header: {err}") from None
    if not body:
        raise ValueError(f"{path}: no rows of pixels after the header")
    width = len(body[0][1])
    for number, cells in body:
        if len(cells) != width:
            raise ValueError(f"{path}: line {number}: {len(cells)} values, but the first row has {width}")
    cells = np.array([[cell.strip() for cell in row] for _, row in body])
    mask = cells == ""
    cells[mask] = "0"
    try:
        data = cells.astype(np.int64 if dtype.kind == "b" else dtype)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{path}: a value is not a {dtype} number: {err}") from None
    if dtype.kind == "b":
        if not np.isin(data, (0, 1)).all():
            raise ValueError(f"{path}: a bool image holds only 0 and 1")
        data = data.astype(bool)
    return ImageFile(data, mask=mask if mask.any() else np.ma.nomask, metadata=metadata)


def save(image, path, **kwargs) -> None:
    """Write ``image`` (an :class:`~stonerimg.ImageArray`) as a csvimage file, atomically.

    Parameters
    ----------
    image : stonerimg.ImageArray
        A 2-D image of bool, integer or float pixels.  It is not changed.
    path : pathlib.Path
        The target file.
    **kwargs
        Not accepted: csvimage has no saver options.

    Raises
    ------
    TypeError
        For an unknown keyword argument.
    ValueError
        For an image that is not 2-D, a dtype csvimage cannot hold (complex), or a
        metadata key that cannot be a header key (empty, with ``=``, a line break
        or spaces at either end, or the codec's tag ``__type__``).
    """
    if kwargs:
        raise TypeError(f"csvimage save() takes no options, not {', '.join(kwargs)}")
    data = np.asarray(image.data)
    if data.ndim != 2:
        raise ValueError(f"image: a csvimage file holds a 2-D image, not shape {data.shape}")
    if data.dtype.kind not in _KINDS:
        raise ValueError(f"image: csvimage holds bool, integer or float pixels, not {data.dtype}")
    encoded = image.metadata.to_jsonable()  # JSON-ready values, keyed like the metadata
    lines = [f"{SIGNATURE.decode()}{data.dtype.name}"]
    for key in image.metadata:
        if not _header_key(key):
            raise ValueError(f"metadata key {key!r} cannot be written in a csvimage header")
        lines.append(f"# {key} = {json.dumps(encoded[key], ensure_ascii=False)}")
    mask = np.ma.getmaskarray(image)
    values = data.astype(np.uint8) if data.dtype.kind == "b" else data
    for row, row_mask in zip(values, mask, strict=True):
        lines.append(",".join("" if hidden else str(value) for value, hidden in zip(row, row_mask, strict=True)))
    with atomic_path(path) as temp:
        temp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _header_key(key: str) -> bool:
    """Tell whether ``key`` reads back from a ``# key = value`` line as itself."""
    return bool(key) and key == key.strip() and "=" not in key and not set(key) & {"\n", "\r"} and key != "__type__"


def _dtype(name: str, where: str) -> np.dtype:
    """Return the dtype named on the signature line, if csvimage can hold it."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise ValueError(f"{where}: {name!r} is not a NumPy dtype") from None
    if dtype.kind not in _KINDS:
        raise ValueError(f"{where}: csvimage holds bool, integer or float pixels, not {dtype}")
    return dtype


#: The registry entry; ``pyproject.toml`` names it in the ``stonerimg.formats`` entry-point group.
FORMAT = Format(
    name="csvimage",
    extensions={".csv": 20},
    load=load,
    save=save,
    magic=(SIGNATURE,),
    description="CSV text image with a '# key = value' metadata header (example plugin)",
)
