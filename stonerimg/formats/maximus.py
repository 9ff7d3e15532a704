"""MAXYMUS (BESSY II) scanning transmission X-ray microscope scans: ``.hdr`` and ``.xim`` files.

The MAXYMUS control software writes one scan as a text header ``<scan>.hdr`` and one
tab-separated table of counts per image: ``<scan>_a.xim`` for a single image,
``<scan>_a000.xim``, ``<scan>_a001.xim``, ... for a stack (the letter is the detector
channel, ``a`` for the first; the digits the image number along the stack axis) and
``<scan>_a0.xim``, ``<scan>_a1.xim``, ... for the regions of a multi-region scan.

The header is a nested structure of ``Name = value;`` items, ``{ ... }`` groups and
``(n, v1, ..., vn)`` tuples that start with their number of values; :func:`parse_hdr`
reads it with a small recursive-descent parser (nothing in it is evaluated).

Orientation
-----------
Line ``i`` of an ``.xim`` file is the scan line at ``QAxis.Points[i]`` (the sample y
stage) and column ``j`` is at ``PAxis.Points[j]`` (sample x).  MAXYMUS scans y upwards,
so the file starts with the *lowest* y.  The loader turns the rows over so that row 0 is
the **highest** y (and column 0 the lowest x): the image then looks like the sample seen
from the beamline, with y up, when shown with ``imshow``.  This is what the Stoner
package's MAXYMUS loader does (``np.genfromtxt(xim)[::-1]``), so images match those
loaded with ``Stoner.Image``.  The decision is read from the header: rows are turned
over only when ``QAxis.Points`` increase (and columns only when ``PAxis.Points``
decrease).  The calibration says the same thing: ``physical = offset + scale * pixel``
gives each row's QAxis point, so ``calibration.y.offset`` is the highest y and
``calibration.y.scale`` is negative (``extent`` then labels the axes correctly).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata
from ._text import normalise_units

__all__ = ["HdrSyntaxError", "flatten_header", "load", "parse_hdr", "sniff"]

logger = logging.getLogger(__name__)

_MAX_HEADER_BYTES = 16 * 1024 * 1024  # real headers are a few kB; a bigger ".hdr" is something else
_MAX_DEPTH = 64  # nesting of groups and tuples; real headers use 4
_ENERGY_STAGES = {"energy", "monochromator", "mono"}
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

# --------------------------------------------------------------------------------------------
# The .hdr parser

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A number, including the Windows C runtime's spellings of non-finite values (1.#QNAN, -1.#IND00).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:#[A-Za-z]+\d*)?")
_SPACE = re.compile(r"\s*")
_VALUE_END = frozenset(",;)}") | frozenset(" \t\r\n\f\v")


class HdrSyntaxError(ValueError):
    """A MAXYMUS header that does not follow the ``.hdr`` syntax.

    Parameters
    ----------
    reason : str
        What was wrong.
    text : str
        The whole header text.
    offset : int
        Position of the problem in ``text``.

    Attributes
    ----------
    line, column : int
        Where the problem is (both counted from 1).
    reason : str
        What was wrong, without the position.
    """

    def __init__(self, reason: str, text: str, offset: int):
        self.offset = offset
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        self.reason = reason
        super().__init__(f"line {self.line}, column {self.column}: {reason}")


class _Parser:
    """Recursive-descent parser of the MAXYMUS header syntax.

    Grammar (whitespace, including line breaks, is free between tokens)::

        document := item* END
        item     := NAME "=" value ";"          (the ";" may be left out before "}")
        value    := NUMBER | STRING | WORD | group | tuple
        group    := "{" item* "}"
        tuple    := "(" COUNT ("," value)* ")"  (COUNT must equal the number of values)
    """

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.depth = 0

    # ------------------------------------------------------------------ helpers
    def error(self, reason: str, pos: int | None = None) -> HdrSyntaxError:
        return HdrSyntaxError(reason, self.text, self.pos if pos is None else pos)

    def where(self, pos: int) -> str:
        err = HdrSyntaxError("", self.text, pos)
        return f"line {err.line}, column {err.column}"

    def skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def found(self) -> str:
        """Describe what is at the current position, for error messages."""
        if self.pos >= len(self.text):
            return "the end of the file"
        word = _NAME.match(self.text, self.pos)
        if word:
            return repr(word.group())
        return repr(self.text[self.pos])

    def nest(self, opened: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"groups and tuples are nested more than {_MAX_DEPTH} deep", opened)

    # ------------------------------------------------------------------ grammar
    def document(self) -> dict:
        return self.items(opened=None)

    def items(self, opened: int | None) -> dict:
        """Read ``Name = value;`` items up to the end of the file, or up to ``}`` when inside a group."""
        result: dict = {}
        repeats: dict[str, int] = {}
        while True:
            self.skip_space()
            char = self.peek()
            if not char:
                if opened is not None:
                    raise self.error(f"the group opened with '{{' at {self.where(opened)} is not closed with '}}'")
                return result
            if opened is not None and char == "}":
                self.pos += 1
                return result
            name_match = _NAME.match(self.text, self.pos)
            if not name_match:
                wanted = "a name or '}'" if opened is not None else "a name"
                raise self.error(f"expected {wanted}, found {self.found()}")
            name = name_match.group()
            self.pos = name_match.end()
            self.skip_space()
            if self.peek() != "=":
                raise self.error(f"expected '=' after {name!r}, found {self.found()}")
            self.pos += 1
            self.skip_space()
            value = self.value(name)
            self.skip_space()
            if self.peek() == ";":
                self.pos += 1
            elif not (opened is not None and self.peek() == "}"):
                raise self.error(f"expected ';' after the value of {name!r}, found {self.found()}")
            _store(result, name, value, repeats)

    def value(self, name: str):
        char = self.peek()
        if char == "{":
            opened = self.pos
            self.pos += 1
            self.nest(opened)
            group = self.items(opened)
            self.depth -= 1
            return group
        if char == "(":
            return self.tuple(name)
        if char == '"':
            return self.string()
        if char and (char in "+-." or char.isdigit()):
            return self.number(name)
        word = _NAME.match(self.text, self.pos)
        if word:
            self.pos = word.end()
            text = word.group()
            return {"true": True, "false": False}.get(text.lower(), text)
        raise self.error(f"expected a value for {name!r}, found {self.found()}")

    def string(self) -> str:
        opened = self.pos
        end = self.text.find('"', opened + 1)
        if end < 0:
            raise self.error(f"the string opened with '\"' at {self.where(opened)} is not closed", opened)
        self.pos = end + 1
        return self.text[opened + 1 : end]

    def number(self, name: str) -> int | float:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        end = match.end() if match else start
        if not match or (end < len(self.text) and self.text[end] not in _VALUE_END):
            stop = end
            while stop < len(self.text) and self.text[stop] not in _VALUE_END:
                stop += 1
            raise self.error(f"malformed number {self.text[start:stop]!r} for {name!r}", start)
        self.pos = end
        token = match.group()
        if "#" in token:
            mantissa, _, special = token.partition("#")
            value = math.inf if special.upper().startswith("INF") else math.nan
            return -value if mantissa.startswith("-") else value
        if any(c in token for c in ".eE"):
            return float(token)
        return int(token)

    def tuple(self, name: str) -> list:
        opened = self.pos
        self.pos += 1
        self.nest(opened)
        self.skip_space()
        count_at = self.pos
        count = self.number(name) if self.peek() and (self.peek() in "+-." or self.peek().isdigit()) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            shown = self.found() if count is None else repr(count)
            raise self.error(f"the tuple {name!r} must start with its number of values, found {shown}", count_at)
        values = []
        while True:
            self.skip_space()
            char = self.peek()
            if char == ")":
                self.pos += 1
                break
            if char == ",":
                self.pos += 1
                self.skip_space()
                values.append(self.value(name))
                continue
            if not char:
                raise self.error(f"the tuple {name!r} opened with '(' at {self.where(opened)} is not closed with ')'")
            raise self.error(f"expected ',' or ')' in the tuple {name!r}, found {self.found()}")
        self.depth -= 1
        if len(values) != count:
            raise self.error(
                f"the tuple {name!r} declares {count} value{'s' * (count != 1)} but holds {len(values)}", opened
            )
        return values


def _store(group: dict, name: str, value, repeats: dict) -> None:
    """Add an item, keeping every value of a repeated name (``Name``, ``Name#2``, ``Name#3``, ...).

    ``repeats`` remembers the last number given to each name of the group, so
    n repeats of a name cost n steps, not n**2 / 2.
    """
    key = name
    number = repeats.get(name, 1)
    if number > 1:
        key = f"{name}#{number}"
    while key in group:
        number += 1
        key = f"{name}#{number}"
    repeats[name] = number
    if number > 1:
        logger.debug("header item %r repeated: stored as %r", name, key)
    group[key] = value


def parse_hdr(text: str) -> dict:
    """Parse the text of a MAXYMUS ``.hdr`` header into nested dicts and lists.

    Parameters
    ----------
    text : str
        The header text.

    Returns
    -------
    dict
        ``{ ... }`` groups (and the file itself) become dicts in file order;
        ``(n, v1, ..., vn)`` tuples become lists of their ``n`` values; numbers
        become int (no ``.`` or exponent) or float (``1.#QNAN`` and ``1.#INF``, as the
        Windows C runtime writes them, become NaN and infinity); ``"quoted"`` strings
        become str, kept exactly (``;``, ``=`` and braces inside quotes are text);
        the bare words ``true``/``false`` become bool and other bare words str.  A name
        repeated within one group keeps every value: the first under ``Name``, the
        next under ``Name#2``, then ``Name#3``, ...

    Raises
    ------
    HdrSyntaxError
        A ``ValueError`` with the line and column of the problem (``.line``,
        ``.column``): a missing ``=`` or ``;``, an unclosed group, tuple or string,
        a malformed number, a tuple whose count does not match its values, ...

    Examples
    --------
    >>> parse_hdr('Scan = { Label = "a; b"; Dwell = 2.5; Points = (2, -1, 1e3); Done = true; };')
    {'Scan': {'Label': 'a; b', 'Dwell': 2.5, 'Points': [-1, 1000.0], 'Done': True}}
    >>> parse_hdr("Points = (3, 1, 2);")
    Traceback (most recent call last):
    ...
    stonerimg.formats.maximus.HdrSyntaxError: line 1, column 10: the tuple 'Points' declares 3 values but holds 2
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return _Parser(text).document()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain_list(values: list):
    """Return a list of numbers as a NumPy array, a list of strings and booleans as it is, else None."""
    if values and all(_is_number(v) for v in values):
        if any(isinstance(v, float) for v in values):
            return np.asarray(values, dtype=np.float64)
        try:
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            return list(values)
    if all(isinstance(v, (str, bool)) or _is_number(v) for v in values):
        return list(values)
    return None


def flatten_header(header: Mapping, prefix: str = "") -> dict:
    """Flatten a parsed header into dotted keys, as stonerimg metadata keeps it.

    Parameters
    ----------
    header : mapping
        What :func:`parse_hdr` returned (or any part of it).
    prefix : str, optional
        Put in front of every key (with a dot).

    Returns
    -------
    dict
        Group names are joined with dots; tuples that hold groups or other tuples
        are numbered from 0 (``ScanDefinition.Regions.0.PAxis.Name``); tuples of
        numbers become one NumPy array (float64 if any value has a decimal point,
        else int64) under their own key (``ScanDefinition.Regions.0.PAxis.Points``);
        tuples of strings stay lists.

    Examples
    --------
    >>> flat = flatten_header(parse_hdr('S = { R = (1, { P = { N = "x"; Points = (2, 0.5, 1.5); }; }); };'))
    >>> flat["S.R.0.P.N"], flat["S.R.0.P.Points"]
    ('x', array([0.5, 1.5]))
    """
    flat: dict = {}

    def walk(value, key: str) -> None:
        if isinstance(value, Mapping):
            if not value and key:
                flat[key] = {}
            for name, item in value.items():
                walk(item, f"{key}.{name}" if key else str(name))
        elif isinstance(value, list):
            plain = _plain_list(value)
            if plain is not None:
                flat[key] = plain
            else:
                for number, item in enumerate(value):
                    walk(item, f"{key}.{number}")
        else:
            flat[key] = value

    walk(header, prefix.rstrip("."))
    return flat


# --------------------------------------------------------------------------------------------
# Signature

_HEADER_START = b"ScanDefinition"
_TABLE_BYTES = frozenset(b"0123456789+-.eE \t\r\nnaNAifIF")


def _header_start(head: bytes) -> bool:
    """Whether ``head`` (white space already stripped) opens with ``ScanDefinition = {``."""
    if not head.startswith(_HEADER_START):
        return False
    rest = head[len(_HEADER_START) :].lstrip()
    return rest.startswith(b"=") and rest[1:].lstrip()[:1] in (b"{", b"")


def sniff(head: bytes) -> bool:
    r"""Tell from the first bytes of a file whether it may be a MAXYMUS file.

    True for the start of a header (optional white space, then ``ScanDefinition = {``)
    and for the start of a tab-separated table of numbers (an ``.xim`` image has no
    signature, and the registry drops a format whose ``sniff`` says no even when it
    claims the extension).  :func:`load` makes the final decision.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.

    Returns
    -------
    bool
        Whether :func:`load` should be tried.

    Examples
    --------
    >>> sniff(b"\r\nScanDefinition = { Label = ")
    True
    >>> sniff(b"9638\t9654\t9777\t\r\n"), sniff(b"\x89PNG\r\n"), sniff(b"ENVI\nsamples = 5")
    (True, False, False)
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(_HEADER_START):
        return _header_start(text)
    return b"\t" in head and any(48 <= byte <= 57 for byte in head) and set(head) <= _TABLE_BYTES


# --------------------------------------------------------------------------------------------
# Reading files


def _read_text(path: Path, limit: int | None = None) -> str:
    """Read a text file (read-only); binary content is declined."""
    with open(path, "rb") as handle:
        raw = handle.read() if limit is None else handle.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise FormatMismatch(f"{path.name} is larger than {limit // 2**20} MiB: not a MAXYMUS header")
    if b"\x00" in raw:
        raise FormatMismatch(f"{path.name} holds binary data (NUL bytes), not MAXYMUS text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # the instrument PC writes Windows text; every byte decodes


def _looks_like_header(text: str) -> bool:
    return _header_start(text.lstrip()[:256].encode("utf-8", "replace"))


def _read_header(path: Path, text: str | None = None) -> dict:
    """Read and parse a header file; a syntax error declines with its position."""
    if text is None:
        text = _read_text(path, _MAX_HEADER_BYTES)
    if not _looks_like_header(text):
        raise FormatMismatch(f"{path.name} does not start with 'ScanDefinition = {{' as MAXYMUS headers do")
    try:
        return parse_hdr(text)
    except HdrSyntaxError as err:
        raise FormatMismatch(f"{path.name} is not a well-formed MAXYMUS header: {err}") from err


def _read_table(path: Path) -> np.ndarray:
    """Read one ``.xim`` image: a tab-separated table of numbers, rows in file order."""
    text = _read_text(path)
    lines = [line.rstrip() for line in text.splitlines()]  # every row ends with a tab
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise FormatMismatch(f"{path.name} holds no numbers")
    if any(not line for line in lines):
        raise FormatMismatch(f"{path.name} has an empty line inside its table of numbers")
    try:
        data = np.loadtxt(lines, delimiter="\t", dtype=np.float64, ndmin=2, comments=None)
    except ValueError as err:
        raise FormatMismatch(f"{path.name} is not a tab-separated table of numbers: {err}") from err
    return data


# --------------------------------------------------------------------------------------------
# What the header says about the scan


def _points(axis: Mapping, what: str) -> np.ndarray:
    points = axis.get("Points")
    if not isinstance(points, list) or not points or not all(_is_number(p) for p in points):
        raise ValueError(f"{what}.Points is not a list of numbers")
    return np.asarray(points, dtype=np.float64)


def _parse_time(value) -> _dt.datetime | None:
    """``"2021 January 27 15:14:38"`` as a (naive, local) datetime; None if it is not that."""
    if not isinstance(value, str):
        return None
    parts = value.split()
    if len(parts) != 4 or parts[1].lower() not in _MONTHS:
        return None
    try:
        clock = [int(p) for p in parts[3].split(":")]
        return _dt.datetime(int(parts[0]), _MONTHS[parts[1].lower()], int(parts[2]), *clock)
    except (ValueError, TypeError):
        return None


def _group(mapping: Mapping, key: str) -> dict:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


class _Scan:
    """The parts of a parsed header the loader needs."""

    def __init__(self, header: dict, hdr_path: Path):
        self.header = header
        self.path = hdr_path
        name = hdr_path.name
        scandef = header.get("ScanDefinition")
        if not isinstance(scandef, dict):
            raise FormatMismatch(f"{name} has no 'ScanDefinition = {{ ... }};' group")
        self.scandef = scandef
        self.type = str(scandef.get("Type", ""))
        regions = scandef.get("Regions")
        if not isinstance(regions, list) or not regions or not all(isinstance(r, dict) for r in regions):
            raise FormatMismatch(f"{name}: ScanDefinition has no Regions")
        if not all(isinstance(r.get("PAxis"), dict) and isinstance(r.get("QAxis"), dict) for r in regions):
            raise FormatMismatch(
                f"{name} describes a {self.type or 'scan'!r} without a QAxis: not an image scan "
                "(MAXYMUS writes point spectra to .xsp files)"
            )
        self.regions = regions
        self.stack = _group(scandef, "StackAxis")
        self.stack_points = _points(self.stack, "ScanDefinition.StackAxis") if self.stack else None
        self.n_images = 1 if self.stack_points is None else len(self.stack_points)
        channels = scandef.get("Channels")
        self.channels = [c for c in channels if isinstance(c, dict)] if isinstance(channels, list) else []
        self.stage = _group(header, "ImageScan").get("ScanningStage")

    # ---------------------------------------------------------------- file names
    def channel_index(self, channel) -> int:
        if isinstance(channel, str):
            names = [str(c.get("Name")) for c in self.channels]
            if channel not in names:
                raise ValueError(f"channel: no channel named {channel!r} in {self.path.name}; it has {names}")
            return names.index(channel)
        if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool) or not 0 <= channel < 26:
            raise ValueError(f"channel must be a channel name or an index from 0, not {channel!r}")
        if self.channels and channel >= len(self.channels):
            raise ValueError(f"channel: {self.path.name} has {len(self.channels)} channel(s), not {channel + 1}")
        return int(channel)

    def region_index(self, region) -> int:
        if not isinstance(region, (int, np.integer)) or isinstance(region, bool):
            raise ValueError(f"region must be an int, not {region!r}")
        if not 0 <= region < len(self.regions):
            raise ValueError(f"region: {self.path.name} has {len(self.regions)} region(s); {region} is out of range")
        return int(region)

    def image_name(self, channel: int, region: int, image: int) -> str:
        """Name the file MAXYMUS writes an image to (as MIEP, the MAXYMUS evaluation program, builds it)."""
        letter = chr(ord("a") + channel)
        stem = self.path.stem
        if len(self.regions) == 1:
            return f"{stem}_{letter}.xim" if self.n_images == 1 else f"{stem}_{letter}{image:03d}.xim"
        if self.n_images == 1:
            return f"{stem}_{letter}{region}.xim"
        raise ValueError(f"{self.path.name}: stacks of several regions are not supported")

    def identify(self, xim: Path) -> tuple[int, int, int | None]:
        """``(channel, region, image)`` of an .xim file from its name; image None if the name does not say."""
        suffix = xim.stem.rpartition("_")[2]
        match = re.fullmatch(r"([a-z])(\d*)", suffix)
        if not match:
            return 0, 0, (0 if self.n_images == 1 else None)
        channel = ord(match.group(1)) - ord("a")
        digits = match.group(2)
        if len(self.regions) > 1:
            return channel, int(digits) if digits else 0, 0
        if self.n_images == 1:
            return channel, 0, 0
        return channel, 0, int(digits) if digits else None

    # ---------------------------------------------------------------- physics
    def stack_is_energy(self) -> bool:
        """Whether the stack axis steps the photon energy (the stack may step e.g. a magnet field instead)."""
        if isinstance(self.stage, str) and self.stage.strip():
            monochromator = str(_group(self.header, "Monochromator").get("Name", "")).lower()
            return self.stage.strip().lower() in _ENERGY_STAGES | {monochromator}
        return str(self.stack.get("Unit", "")) == "eV" or str(self.stack.get("Name", "")).lower() == "energy"

    def energies(self, images: list[int]) -> tuple[np.ndarray, str] | None:
        """Photon energy (eV) of each image and where it was read, or None if the header does not say."""
        per_image = [_group(self.header, f"Image{k}").get("Energy") for k in images]
        if all(_is_number(e) for e in per_image):
            return np.asarray(per_image, dtype=np.float64), "Image<n>.Energy"
        if self.stack_points is not None and self.stack_is_energy():
            return self.stack_points[images], "ScanDefinition.StackAxis.Points"
        mono = _group(self.header, "Monochromator").get("LastPosition")
        if _is_number(mono):
            return np.full(len(images), float(mono)), "Monochromator.LastPosition"
        return None

    def axes(self, region: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        where = f"ScanDefinition.Regions.{region}"
        paxis, qaxis = self.regions[region]["PAxis"], self.regions[region]["QAxis"]
        return (
            _points(paxis, f"{where}.PAxis"),
            _points(qaxis, f"{where}.QAxis"),
            str(paxis.get("Unit", "")),
            str(qaxis.get("Unit", "")),
        )

    def stack_axis_name(self) -> str:
        if isinstance(self.stage, str) and self.stage.strip():
            return self.stage.strip()
        return str(self.stack.get("Name", ""))


# --------------------------------------------------------------------------------------------
# Orientation and metadata


def _orientation(x_points: np.ndarray, y_points: np.ndarray) -> tuple[bool, bool]:
    """``(flip_rows, flip_cols)``: turn the table so row 0 is the highest y and column 0 the lowest x."""
    flip_rows = len(y_points) < 2 or y_points[-1] >= y_points[0]
    flip_cols = len(x_points) > 1 and x_points[-1] < x_points[0]
    return bool(flip_rows), bool(flip_cols)


def _orient(planes: np.ndarray, flip_rows: bool, flip_cols: bool) -> np.ndarray:
    if flip_rows:
        planes = planes[..., ::-1, :]
    if flip_cols:
        planes = planes[..., ::-1]
    return np.ascontiguousarray(planes)


def _calibrate(metadata: Metadata, axis: str, points: np.ndarray, units: str) -> None:
    """Calibrate one axis from the stage positions of its pixels, in pixel order.

    The header rounds positions to 0.001; a least-squares line through all of them
    gives the pixel pitch more exactly than the two end points would.
    """
    if len(points) > 1:
        pixels = np.arange(len(points), dtype=np.float64)
        centred = pixels - pixels.mean()
        scale = float(np.dot(centred, points - points.mean()) / np.dot(centred, centred))
        metadata[f"calibration.{axis}.scale"] = scale
        metadata[f"calibration.{axis}.offset"] = float(points.mean() - scale * pixels.mean())
    else:
        metadata[f"calibration.{axis}.offset"] = float(points[0])
    if units:
        metadata[f"calibration.{axis}.units"] = normalise_units(units)


def _scan_metadata(scan: _Scan, region: int, channel: int, images: list[int], stacked: bool) -> Metadata:
    metadata = Metadata(flatten_header(scan.header))
    metadata["instrument"] = "MAXYMUS"
    x_points, y_points, x_units, y_units = scan.axes(region)
    flip_rows, flip_cols = _orientation(x_points, y_points)
    _calibrate(metadata, "x", x_points[::-1] if flip_cols else x_points, x_units)
    _calibrate(metadata, "y", y_points[::-1] if flip_rows else y_points, y_units)
    energies = scan.energies(images)
    if energies is not None:
        values, source = energies
        metadata["energy"] = values if stacked else float(values[0])
        metadata["maximus.energy_source"] = source
    if scan.stack_points is not None:
        metadata["stack.axis"] = scan.stack_axis_name()
        metadata["stack.units"] = str(scan.stack.get("Unit", ""))
        values = scan.stack_points[images]
        metadata["stack.value"] = values if stacked else float(values[0])
        metadata["stack.index"] = np.asarray(images, dtype=np.int64) if stacked else int(images[0])
    dwell = scan.scandef.get("Dwell")
    if _is_number(dwell):
        metadata["dwell"] = float(dwell)
    when = _parse_time(scan.header.get("Time"))
    if when is not None:
        metadata["datetime"] = when
    if scan.channels:
        metadata["channel.name"] = str(scan.channels[channel].get("Name", ""))
        metadata["channel.units"] = str(scan.channels[channel].get("Unit", ""))
    metadata["maximus.header"] = scan.path.name
    metadata["maximus.region"] = region
    metadata["maximus.channel"] = channel
    return metadata


def _check_shape(data: np.ndarray, xim: Path, scan: _Scan, region: int) -> None:
    x_points, y_points, _, _ = scan.axes(region)
    expected = (len(y_points), len(x_points))
    if data.shape != expected:
        raise ValueError(
            f"{xim.name} has {data.shape[0]} rows x {data.shape[1]} columns but {scan.path.name} describes "
            f"{expected[0]} QAxis (y) x {expected[1]} PAxis (x) points"
        )


# --------------------------------------------------------------------------------------------
# Loading


def _select(index, energy_index):
    if index is not None and energy_index is not None:
        raise ValueError("give index or energy_index (the same thing), not both")
    chosen = index if index is not None else energy_index
    if chosen is not None and (not isinstance(chosen, (int, np.integer)) or isinstance(chosen, bool)):
        raise ValueError(f"index must be an int, not {chosen!r}")
    return chosen


def _load_scan(scan: _Scan, index, region, channel) -> ImageFile:
    """Load the images a header describes: one, or all of a stack as ``(n, y, x)``."""
    region = scan.region_index(region)
    channel = scan.channel_index(channel)
    if index is not None:
        if not -scan.n_images <= index < scan.n_images:
            raise ValueError(f"index: {scan.path.name} describes {scan.n_images} image(s); {index} is out of range")
        wanted = [int(index) % scan.n_images]
    else:
        wanted = list(range(scan.n_images))
    stacked = index is None and scan.n_images > 1
    folder = scan.path.parent
    files = {k: folder / scan.image_name(channel, region, k) for k in wanted}
    present = [k for k in wanted if files[k].is_file()]
    if not present:
        missing = files[wanted[0]]
        raise FileNotFoundError(2, f"No MAXYMUS image beside {scan.path.name}", str(missing))
    if len(present) < len(wanted):
        absent = [files[k].name for k in wanted if k not in present]
        logger.warning("%s: %d of %d images are missing (%s)", scan.path, len(absent), len(wanted), ", ".join(absent))
    planes = []
    for k in present:
        try:
            table = _read_table(files[k])
        except FormatMismatch as err:
            raise ValueError(str(err)) from err
        _check_shape(table, files[k], scan, region)
        planes.append(table)
    x_points, y_points, _, _ = scan.axes(region)
    data = _orient(np.stack(planes) if stacked else planes[0], *_orientation(x_points, y_points))
    metadata = _scan_metadata(scan, region, channel, present, stacked)
    metadata["maximus.files"] = [files[k].name for k in present]
    if len(present) < len(wanted):
        metadata["maximus.missing"] = [files[k].name for k in wanted if k not in present]
    return ImageFile(data, metadata=metadata)


def _sibling_header(xim: Path) -> Path | None:
    base = xim.stem.rpartition("_")[0]
    if not base:
        return None
    for suffix in (".hdr", ".HDR"):
        candidate = xim.with_name(base + suffix)
        if candidate.is_file():
            return candidate
    return None


def _load_image(xim: Path) -> ImageFile:
    """Load one ``.xim`` with the metadata of the header beside it (or bare, with a note)."""
    table = _read_table(xim)
    hdr_path = _sibling_header(xim)
    if hdr_path is None:
        note = (
            f"no MAXYMUS header ({xim.stem.rpartition('_')[0] or xim.stem}.hdr) beside this file: "
            "no calibration or energy; rows turned over as MAXYMUS scans y upwards"
        )
        logger.warning("%s: %s", xim, note)
        metadata = Metadata({"instrument": "MAXYMUS", "maximus.note": note, "maximus.files": [xim.name]})
        return ImageFile(_orient(table, True, False), metadata=metadata)
    try:
        scan = _Scan(_read_header(hdr_path), hdr_path)
    except FormatMismatch as err:
        raise ValueError(f"the header beside it cannot be used: {err}") from err
    channel, region, image = scan.identify(xim)
    channel = scan.channel_index(channel)
    region = scan.region_index(region)
    _check_shape(table, xim, scan, region)
    x_points, y_points, _, _ = scan.axes(region)
    data = _orient(table, *_orientation(x_points, y_points))
    if image is None or not 0 <= image < scan.n_images:
        metadata = _scan_metadata(scan, region, channel, [0], False)
        for key in ("energy", "maximus.energy_source", "stack.value", "stack.index"):
            metadata.pop(key, None)
        metadata["maximus.note"] = f"the file name does not say which of the {scan.n_images} stack images this is"
    else:
        metadata = _scan_metadata(scan, region, channel, [image], False)
    metadata["maximus.files"] = [xim.name]
    return ImageFile(data, metadata=metadata)


def load(path, *, index=None, energy_index=None, region=0, channel=0) -> ImageFile:
    """Load a MAXYMUS scan from its ``.hdr`` header, or one image from its ``.xim`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The header ``<scan>.hdr`` (every image of the scan is loaded) or one image
        ``<scan>_a001.xim`` (loaded with the metadata of ``<scan>.hdr`` beside it; if
        there is none, the bare image with a ``maximus.note`` saying so).
    index, energy_index : int, optional
        With a header of a stack: load only this image (counted from 0 along the
        stack axis; negative counts from the end) as a 2-D image.  The two names are
        the same option.
    region : int, default 0
        Which region of a multi-region scan (each region is a separate image).
    channel : int or str, default 0
        Which detector channel (index or name, e.g. ``"APD"``); channel 0 is the
        ``_a`` files.

    Returns
    -------
    ImageFile
        A ``(y, x)`` image, or for a stack loaded from its header an ``(n, y, x)``
        stack, in float64 counts.  Row 0 is the highest y and column 0 the lowest x
        (see the module notes on orientation).  Metadata: every header item under its
        dotted path (:func:`flatten_header`), and ``calibration.{x,y}.{scale,offset,units}``
        from the PAxis/QAxis points (``um`` becomes ``µm``; ``calibration.y.scale`` is
        negative because y decreases down the rows), ``energy`` in eV (a float, or an
        array of ``n`` for a stack), ``maximus.energy_source`` (the header item it came
        from: ``Image<n>.Energy``, the stack axis when the stack steps the energy, else
        the monochromator position), ``stack.axis``/``stack.units``/``stack.value``/
        ``stack.index`` (what the stack steps, e.g. ``MagnetField``, and its value and
        image number for the image or images loaded, shaped like ``energy``),
        ``dwell`` (ms), ``datetime``, ``channel.name``/``channel.units``,
        ``instrument`` and ``maximus.*`` (header and image file names).

    Raises
    ------
    stonerimg.errors.FormatMismatch
        If the file is not a MAXYMUS header or image (not ``ScanDefinition = {...}``
        syntax, a point scan, a non-numeric or ragged table, binary data).
    ValueError
        If the files contradict each other (an image whose size is not the header's),
        an image of the scan is not a table of numbers, or an option is out of range.
    FileNotFoundError
        If none of the images the header describes is beside it.
    """
    path = Path(os.fspath(path))
    chosen = _select(index, energy_index)
    head = _read_text(path, _MAX_HEADER_BYTES) if path.suffix.lower() != ".xim" else ""
    if head and _looks_like_header(head):
        return _load_scan(_Scan(_read_header(path, head), path), chosen, region, channel)
    if path.suffix.lower() != ".xim":
        raise FormatMismatch(
            f"{path.name} is not a MAXYMUS header: it does not start with 'ScanDefinition = {{'"
            if path.suffix.lower() == ".hdr"
            else f"{path.name} is neither a MAXYMUS .hdr header nor an .xim image"
        )
    if chosen is not None or region != 0 or channel != 0:
        raise ValueError("index, energy_index, region and channel choose images of a scan: load its .hdr file")
    return _load_image(path)
