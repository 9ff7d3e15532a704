"""Metadata: a dictionary of flat dotted keys with a lossless JSON encoding.

Besides :class:`Metadata` this module holds the parsers for typed text written
by instrument software (``Name{Type}`` keys, as National Instruments IMAQ and
the Stoner package write them).  Nothing here ever evaluates text, unpickles
data or imports a module named by data: values are parsed as literals only.
"""

from __future__ import annotations

import ast
import base64
import datetime as _dt
import functools
import json
import math
import re
import weakref
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["Metadata", "parse_literal", "parse_typed_value", "split_typed_key"]

_TAG = "__type__"
# dtype kinds the codec stores losslessly: bool, signed, unsigned, float, complex
_NUMERIC_KINDS = "biufc"


def _check_numeric_dtype(dtype, what: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise TypeError(f"{what}: dtype {dtype} is not a plain numeric or bool dtype")
    return dtype


# --------------------------------------------------------------------------
# JSON codec


def _encode(value: Any, key: str) -> Any:
    """Turn ``value`` into something :func:`json.dumps` writes losslessly."""
    # order matters: bool before int, numpy scalars before Python numbers
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, (np.str_, np.bytes_)):
            return _encode(value.item(), key)
        dtype = _check_numeric_dtype(value.dtype, f"metadata[{key!r}]")
        if isinstance(value, (np.longdouble, np.clongdouble)):
            # no Python type holds these exactly: keep NumPy's own shortest round-trip text
            parts = (value.real, value.imag) if dtype.kind == "c" else (value,)
            return {_TAG: "numpy.scalar", "dtype": dtype.str, "text": [str(p) for p in parts]}
        return {_TAG: "numpy.scalar", "dtype": dtype.str, "value": _encode(value.item(), key)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {_TAG: "float", "value": repr(float(value))}
    if isinstance(value, complex):
        return {_TAG: "complex", "real": _encode(value.real, key), "imag": _encode(value.imag, key)}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        return {_TAG: "datetime", "iso": value.isoformat()}
    if isinstance(value, _dt.date):
        return {_TAG: "date", "iso": value.isoformat()}
    if isinstance(value, np.ndarray):
        dtype = _check_numeric_dtype(value.dtype, f"metadata[{key!r}]")
        # level 1: measured values hardly compress further at higher levels, which take up to 20x the time
        raw = zlib.compress(np.ascontiguousarray(value).tobytes(), 1)
        return {
            _TAG: "ndarray",
            "dtype": dtype.str,
            "shape": list(value.shape),
            "zlib_base64": base64.b64encode(raw).decode("ascii"),
        }
    if isinstance(value, list):
        return [_encode(v, key) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_encode(v, key) for v in value]}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: _encode(v, key) for k, v in value.items()}
        return {_TAG: "dict", "items": [[_encode(k, key), _encode(v, key)] for k, v in value.items()]}
    raise TypeError(
        f"metadata[{key!r}] holds a {type(value).__name__}, which has no lossless JSON encoding; "
        "store numbers, strings, bytes, datetimes, lists, tuples, dicts or numeric NumPy arrays"
    )


def _decode_tagged(obj: dict) -> Any:
    """``object_hook`` for :func:`json.loads`: rebuild tagged values (bottom-up)."""
    tag = obj.get(_TAG)
    if tag is None:
        return obj
    try:
        if tag == "float":
            text = obj["value"]
            if text not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad special float {text!r}")
            return float(text)
        if tag == "complex":
            return complex(obj["real"], obj["imag"])
        if tag == "bytes":
            return base64.b64decode(obj["base64"], validate=True)
        if tag == "datetime":
            return _dt.datetime.fromisoformat(obj["iso"])
        if tag == "date":
            return _dt.date.fromisoformat(obj["iso"])
        if tag == "tuple":
            return tuple(obj["items"])
        if tag == "dict":
            return {k: v for k, v in obj["items"]}
        if tag == "numpy.scalar":
            dtype = _check_numeric_dtype(obj["dtype"], "encoded scalar")
            if "text" in obj:
                real_type = np.longdouble if dtype.kind == "c" else dtype.type
                parts = [real_type(str(t)) for t in obj["text"]]
                if dtype.kind != "c":
                    return parts[0]
                holder = np.zeros(1, dtype)  # set the parts separately: 1j * inf would make a NaN
                holder.real, holder.imag = parts
                return holder[0]
            return dtype.type(obj["value"])
        if tag == "ndarray":
            dtype = _check_numeric_dtype(obj["dtype"], "encoded array")
            from .formats._limits import inflate

            shape = tuple(int(n) for n in obj["shape"])
            if any(n < 0 for n in shape):
                raise ValueError(f"negative shape {shape}")
            expected = dtype.itemsize * math.prod(shape)
            raw = inflate(base64.b64decode(obj["zlib_base64"], validate=True), expected, what="an encoded array")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except (KeyError, TypeError, ValueError, zlib.error) as err:
        raise ValueError(f"malformed encoded {tag!r} value in metadata JSON: {err}") from err
    raise ValueError(f"unknown encoded type {tag!r} in metadata JSON")


def encode_json(value: Any) -> str:
    """Encode any value the metadata codec supports as strict (ASCII) JSON text."""
    return json.dumps(_encode(value, "<value>"), allow_nan=False)


def decode_json(text: str | bytes) -> Any:
    """Decode text written by :func:`encode_json`."""
    return json.loads(text, object_hook=_decode_tagged)


# --------------------------------------------------------------------------
# Metadata


def _values_equal(a: Any, b: Any) -> bool:
    """Equality that copes with arrays inside containers and treats NaN as equal to NaN."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_values_equal, a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (float, complex, np.floating, np.complexfloating)) and isinstance(
        b, (float, complex, np.floating, np.complexfloating)
    ):
        if a != a and b != b:  # both NaN (complex NaN too)
            return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain_items(items: dict) -> bool:
    """Whether every key of ``items`` is a ``str`` and no value is an array (what ``Metadata.__setitem__`` checks)."""
    return set(map(type, items)) <= {str} and not any(
        issubclass(kind, np.ndarray) for kind in set(map(type, items.values()))
    )


class Metadata(dict):
    """A dictionary of metadata with flat, dotted string keys.

    Keys are strings such as ``"collection.polarization.value"``; values are
    any of the types the JSON codec stores losslessly (numbers, strings, bytes,
    datetimes, lists, tuples, dicts, NumPy scalars and numeric arrays).
    NumPy arrays are stored as read-only copies, so images that share a value
    (views and results copy the dictionary, not every value) can never change
    each other's; to change an array, assign a new one.

    Examples
    --------
    >>> md = Metadata({"stage.x": 1.5, "stage.y": -2.0, "energy": 780.0})
    >>> md.group("stage")
    Metadata({'x': 1.5, 'y': -2.0})
    >>> md.tree()["stage"]
    {'x': 1.5, 'y': -2.0}
    >>> Metadata.from_json(md.to_json()) == md
    True
    """

    # ``_borrowers``: weak references to the images that read this dictionary until
    # they first need their own copy (copy-on-write; see ImageArray._borrow)
    __slots__ = ("_borrowers",)

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._borrowers = None
        self.update(*args, **kwargs)

    def __reduce__(self):
        return (type(self), (dict(self),))

    def _lend(self, image) -> None:
        """Let ``image`` read this dictionary as its metadata until it or this dictionary changes."""
        try:
            borrowers = self._borrowers
        except AttributeError:  # made without __init__ (e.g. dict.__new__)
            borrowers = None
        if borrowers is None:
            borrowers = self._borrowers = []
        borrowers.append(weakref.ref(image))
        n = len(borrowers)
        if n >= 64 and not n & (n - 1):  # at powers of two, forget images that are gone
            borrowers[:] = [ref for ref in borrowers if ref() is not None]

    def _release(self) -> None:
        """Give every image that still reads this dictionary its own copy, before it changes."""
        try:
            borrowers = self._borrowers
        except AttributeError:
            return
        if borrowers:
            self._borrowers = None
            for ref in borrowers:
                image = ref()
                if image is not None:
                    image._own_metadata(self)

    @staticmethod
    def _check_key(key):
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be strings, not {type(key).__name__} ({key!r})")
        return key

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.flags.writeable:
            # images derived from one another share their metadata values (the dictionaries are
            # copied shallowly), so arrays are stored as read-only copies that nobody can change
            value = value.copy()
            value.flags.writeable = False
        if type(key) is not str:
            key = self._check_key(key)
        if getattr(self, "_borrowers", None):
            self._release()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        self._release()
        super().__delitem__(key)

    def update(self, *args, **kwargs):
        """Update from a mapping or iterable of pairs, checking that keys are strings."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 positional argument, got {len(args)}")
        other = args[0] if args else ()
        if isinstance(other, Metadata):
            if other:
                self._release()
                super().update(other)
        elif type(other) is dict and _plain_items(other):  # nothing to check item by item: one update
            if other:
                self._release()
                super().update(other)
        else:
            items = other.items() if isinstance(other, Mapping) else other
            for key, value in items:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def setdefault(self, key, default=None):
        """Insert ``key`` with ``default`` unless present; return its value."""
        key = self._check_key(key)
        if key not in self:
            self._release()
        return super().setdefault(key, default)

    def pop(self, *args):
        """Remove a key and return its value (see :meth:`dict.pop`)."""
        self._release()
        return super().pop(*args)

    def popitem(self):
        """Remove and return the last item (see :meth:`dict.popitem`)."""
        self._release()
        return super().popitem()

    def clear(self):
        """Remove every item."""
        self._release()
        super().clear()

    def copy(self) -> Metadata:
        """Return a shallow copy (a new dictionary; the values are shared)."""
        new = Metadata()
        dict.update(new, self)
        return new

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        import copy

        new = Metadata()
        dict.update(new, {k: copy.deepcopy(v, memo) for k, v in self.items()})
        return new

    def __eq__(self, other):
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.keys() == other.keys() and all(_values_equal(self[k], other[k]) for k in self)

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # mutable

    def __repr__(self):
        return f"Metadata({dict.__repr__(self)})"

    def _repr_html_(self) -> str:
        """Return the notebook view: key facts, calibration, the items as a collapsible tree, history."""
        from .notebook.repr import metadata_html

        return metadata_html(self)

    def group(self, prefix: str) -> Metadata:
        """Return the items whose key starts with ``prefix + "."``, with that prefix removed.

        Parameters
        ----------
        prefix : str
            A dotted key prefix such as ``"collection.polarization"``.

        Raises
        ------
        KeyError
            If no key starts with the prefix.
        """
        start = prefix.rstrip(".") + "."
        found = Metadata()
        for key, value in self.items():
            if key.startswith(start):
                dict.__setitem__(found, key[len(start) :], value)
        if not found:
            raise KeyError(f"no metadata keys start with {start!r}")
        return found

    def tree(self) -> dict:
        """Return the metadata as nested dictionaries split at the dots.

        A key that is both a value and a prefix of other keys (``"a"`` and
        ``"a.b"``) keeps its own value under the empty key ``""`` of its node.
        """
        root: dict = {}
        for key, value in self.items():
            node = root
            *parents, leaf = key.split(".")
            for part in parents:
                child = node.get(part)
                if not isinstance(child, _Node):
                    child = node[part] = _Node() if part not in node else _Node({"": node[part]})
                node = child
            if isinstance(node.get(leaf), _Node):
                node[leaf][""] = value
            else:
                node[leaf] = value
        return _plain(root)

    def to_jsonable(self) -> dict:
        """Encode as a dictionary that :func:`json.dumps` writes losslessly (see :meth:`to_json`)."""
        if _TAG in self:  # a key that would read as a type tag: store the items as pairs
            return {_TAG: "dict", "items": [[k, _encode(v, k)] for k, v in self.items()]}
        return {k: _encode(v, k) for k, v in self.items()}

    def to_json(self) -> str:
        """Encode as strict JSON text that :meth:`from_json` turns back into equal values of equal types."""
        return json.dumps(self.to_jsonable(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Metadata:
        """Decode JSON text written by :meth:`to_json`.

        Raises
        ------
        ValueError
            If the text is not valid JSON of an object, or holds a malformed encoded value.
        """
        try:
            data = json.loads(text, object_hook=_decode_tagged)
        except json.JSONDecodeError as err:
            raise ValueError(f"metadata is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"metadata JSON must be an object, not {type(data).__name__}")
        return cls(data)


class _Node(dict):
    """A branch of :meth:`Metadata.tree` (tells branches apart from dict values)."""


def _plain(node):
    return {k: _plain(v) if isinstance(v, _Node) else v for k, v in node.items()}


# --------------------------------------------------------------------------
# Typed text: ``Name{Type}`` keys and literal values

_TYPED_KEY = re.compile(r"^(?P<name>[^{]*)\{(?P<type>[^{}]*)\}$", re.DOTALL)
_MAX_LITERAL = 1_000_000  # characters; longer text stays a string


def split_typed_key(key: str) -> tuple[str, str | None]:
    """Split ``"Name{Type}"`` into ``("Name", "Type")``; a key without a hint gives ``(key, None)``.

    Examples
    --------
    >>> split_typed_key("AC Angle{Double Float}")
    ('AC Angle', 'Double Float')
    >>> split_typed_key("Version")
    ('Version', None)
    """
    return _split_typed_key(key)


@functools.lru_cache(maxsize=4096)  # the keys of one instrument repeat in every file it writes
def _split_typed_key(key: str) -> tuple[str, str | None]:
    match = _TYPED_KEY.match(key)
    if match is None:
        return key, None
    return match["name"], match["type"].strip()


_SPECIAL_NAMES = {
    "nan": math.nan,
    "NaN": math.nan,
    "inf": math.inf,
    "Inf": math.inf,
    "None": None,
    "True": True,
    "False": False,
}


def _literal(node: ast.AST) -> Any:
    """Evaluate a whitelisted literal AST node (numbers, strings, containers, ``array(...)``)."""
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:  # NumPy's shortened repr of a long array: the values are lost
            raise ValueError("'...' is not a literal value")
        return node.value
    if isinstance(node, ast.Name) and node.id in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand)
        if isinstance(operand, (int, float, complex)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(left, (int, float)) and isinstance(right, complex):  # 1+2j
            return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.Call):
        return _literal_call(node)
    raise ValueError(f"not a literal: {ast.dump(node)[:80]}")


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    raise ValueError("not a name")


def _literal_call(node: ast.Call) -> Any:
    """``array([...], dtype=...)`` and ``datetime.datetime(...)`` as Stoner writes them."""
    name = _dotted_name(node.func)
    if name in ("array", "np.array", "numpy.array") and len(node.args) == 1:
        kwargs = {}
        for kw in node.keywords:
            if kw.arg != "dtype":
                raise ValueError(f"unsupported array() argument {kw.arg!r}")
            value = kw.value
            kwargs["dtype"] = _check_numeric_dtype(
                value.value if isinstance(value, ast.Constant) else _dotted_name(value).split(".")[-1],
                "array literal",
            )
        array = np.array(_literal(node.args[0]), **kwargs)
        _check_numeric_dtype(array.dtype, "array literal")
        return array
    if name in ("datetime", "datetime.datetime") and not node.keywords:
        args = [_literal(a) for a in node.args]
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return _dt.datetime(*args)
    raise ValueError(f"call of {name!r} is not a literal")


def flat_items(tree: Mapping, prefix: str = "", own: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted key, value)`` for every leaf of nested mappings; an empty mapping is a leaf.

    With ``own=""`` this undoes :meth:`Metadata.tree` (whose key ``""`` holds a
    node's own value); ``prefix`` goes in front of every key.

    Examples
    --------
    >>> list(flat_items({"a": {"b": 1, "": 2}, "c": {}}, own=""))
    [('a.b', 1), ('a', 2), ('c', {})]
    >>> dict(flat_items({"x": {"y": 1}}, "original."))
    {'original.x.y': 1}
    """
    for key, value in tree.items():
        key = str(key)
        dotted = prefix[:-1] if own is not None and key == own and prefix else f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flat_items(value, f"{dotted}.", own)
        else:
            yield dotted, value


# how every text that _literal accepts begins: a number, sign, dot, bracket, quote (with its prefix)
# or one of the names it knows
_LITERAL_START = re.compile(
    r"[-+.\d(\[{'\"]|[bBrRuU]{1,2}['\"]|(?:nan|NaN|inf|Inf|None|True|False|array|np|numpy|datetime)\b"
)


def parse_literal(text: str) -> Any:
    """Parse a Python-style literal without evaluating any code.

    Accepts numbers (including ``nan``/``inf``), strings, bytes, ``None``,
    booleans, lists, tuples, dicts, ``array([...], dtype=...)`` as NumPy's
    ``repr`` writes it and ``datetime.datetime(...)``.

    Raises
    ------
    ValueError
        If the text is anything else (a name, an operator, a call of another function, ...).

    Examples
    --------
    >>> parse_literal("[1, 2.5, 'a', None]")
    [1, 2.5, 'a', None]
    >>> parse_literal("array([1., 2.])")
    array([1., 2.])
    """
    if len(text) > _MAX_LITERAL:
        raise ValueError("literal too long")
    if not _LITERAL_START.match(text.lstrip()):  # saves parsing text that cannot be a literal (most text)
        raise ValueError("not a literal: it starts with neither a number, a bracket, a quote nor a literal name")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _literal(tree.body)
    except (SyntaxError, RecursionError, MemoryError, TypeError, OverflowError) as err:
        raise ValueError(f"not a literal: {err}") from err


def parse_call(text: str) -> tuple[str, tuple, dict]:
    """Parse ``name`` or ``name(literal, ..., key=literal, ...)`` without evaluating any code.

    The command line's ``--process`` steps are written this way; the caller checks
    the name against its own table.

    Raises
    ------
    ValueError
        If the text is anything else; the message says what was wrong.

    Examples
    --------
    >>> parse_call("crop(10, copy=True)")
    ('crop', (10,), {'copy': True})
    >>> parse_call("mean")
    ('mean', (), {})
    """
    if len(text) > _MAX_LITERAL:
        raise ValueError("too long")
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"not a name or a call ({err.msg})") from None
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ValueError("expected a name or name(arguments), e.g. crop(10)")
    if not all(k.arg for k in node.keywords):
        raise ValueError("keyword arguments are given as name=value (no **)")
    try:
        args = tuple(_literal(a) for a in node.args)
        kwargs = {k.arg: _literal(k.value) for k in node.keywords}
    except (ValueError, RecursionError, TypeError, OverflowError) as err:
        raise ValueError(f"arguments must be literals ({err})") from None
    return node.func.id, args, kwargs


_INT_TYPE = re.compile(r"^[IU](8|16|32|64)$")
_FLOAT_TYPE = re.compile(r"^(Single|Double|Extended)\s+Float$|^(Float|DBL|SGL|EXT)$")
_COMPLEX_TYPE = re.compile(r"^Complex")
_STRING_TYPE = re.compile(r"^(String|Path|Enum\b)")
_ARRAY_TYPE = re.compile(r"^\d+D Array\s*\((?P<element>.*)\)$")
_TRUE = {"true", "t", "yes", "on", "1"}
_FALSE = {"false", "f", "no", "off", "0", ""}


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _parse_float(text: str) -> float:
    return float(text.strip())  # float() already reads nan, inf, -Inf, NaN


def _parse_array_text(text: str, element: str) -> Any:
    """NI writes ``[a,b]`` without quotes; Stoner writes a Python/NumPy repr."""
    stripped = text.strip()
    bracketed = stripped.startswith("[") and stripped.endswith("]")
    inner = stripped[1:-1].strip() if bracketed else ""
    items = [item.strip() for item in inner.split(",")] if inner else []
    # items that are single tokens parse one by one as the list literal would parse them: no need for ast
    plain_items = bracketed and _parser(element) is parse_literal and not _NESTED.search(inner) and all(items)
    if not plain_items and not _STRING_TYPE.match(element):
        try:
            return parse_literal(text)
        except ValueError:
            pass
    if not bracketed:
        raise ValueError(f"{text!r} is not an array")
    return [parse_typed_value(item, element) for item in items]


_NESTED = re.compile(r"[\[\](){}'\"]")


def parse_typed_value(text: str, type_name: str | None) -> Any:
    """Convert ``text`` to the Python type named by an instrument type hint.

    Parameters
    ----------
    text : str
        The value as written in the file.
    type_name : str or None
        The hint between the braces of ``Name{Type}``: LabVIEW/IMAQ names
        (``Boolean``, ``I32``, ``U16``, ``Double Float``, ``String``, ``Path``,
        ``Enum U16 (...)``, ``1D Array (...)``, ``Void``, ...) and those Stoner writes
        (``Cluster (...)``, ``List``, ``Timestamp``, ``Invalid Type``).  ``None`` means
        no hint: the value is kept as a string.

    Returns
    -------
    object
        The typed value; text that does not parse as its hint says stays a string.

    Examples
    --------
    >>> parse_typed_value("0.150532", "Double Float")
    0.150532
    >>> parse_typed_value("False", "Boolean")
    False
    >>> parse_typed_value("[Dev1/ao0,Dev1/ao1]", "1D Array (Variable Tag [0])")
    ['Dev1/ao0', 'Dev1/ao1']
    """
    parse = _parser(type_name)
    if parse is None:
        return text
    try:
        return parse(text)
    except (ValueError, TypeError, OverflowError):
        return text


def _parse_int(text: str):
    try:
        return int(text.strip())
    except ValueError:
        as_float = _parse_float(text)
        if as_float.is_integer():
            return int(as_float)
        return as_float


def _parse_timestamp(text: str):
    try:
        return _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        value = parse_literal(text)  # Stoner writes repr(): datetime.datetime(2024, 1, 2, ...)
        if not isinstance(value, _dt.datetime):
            raise
        return value


@functools.lru_cache(maxsize=1024)  # a type hint is matched against the patterns once, not once per value
def _parser(type_name: str | None):
    """Return the function that parses a value of this type hint (None: keep the text)."""
    if type_name is None or _STRING_TYPE.match(type_name):
        return None
    if type_name == "Boolean":
        return _parse_bool
    if _INT_TYPE.match(type_name):
        return _parse_int
    if _FLOAT_TYPE.match(type_name):
        return _parse_float
    if _COMPLEX_TYPE.match(type_name):
        return lambda text: complex(text.strip().replace(" ", ""))
    if type_name == "Void":
        return lambda text: None
    if type_name == "Timestamp":
        return _parse_timestamp
    array = _ARRAY_TYPE.match(type_name)
    if array:
        element = array["element"].strip()
        return lambda text: _parse_array_text(text, element)
    return parse_literal
