"""Tests for stonerimg.metadata: the Metadata dict, its JSON codec and the typed-text parsers."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import zlib

import numpy as np
import pytest

from stonerimg import Metadata
from stonerimg.metadata import parse_literal, parse_typed_value, split_typed_key

# --------------------------------------------------------------------------- helpers


def assert_same(a, b, path="value"):
    """Assert that ``b`` equals ``a`` with the same type, recursively (NaN equals NaN)."""
    assert type(a) is type(b), f"{path}: type {type(b).__name__} != {type(a).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{path}: dtype {b.dtype} != {a.dtype}"
        assert a.shape == b.shape, f"{path}: shape {b.shape} != {a.shape}"
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, f"{path}: dtype {b.dtype} != {a.dtype}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{path}: {b!r} != {a!r}"
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), f"{path}: keys differ"
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            assert_same(ka, kb, f"{path} key {ka!r}")
            assert_same(va, vb, f"{path}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length differs"
        for i, (va, vb) in enumerate(zip(a, b, strict=True)):
            assert_same(va, vb, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), f"{path}: {b!r} is not nan"
    elif isinstance(a, complex) and (math.isnan(a.real) or math.isnan(a.imag)):
        assert_same(a.real, b.real, f"{path}.real")
        assert_same(a.imag, b.imag, f"{path}.imag")
    else:
        assert a == b, f"{path}: {b!r} != {a!r}"


def _raise_constant(name):
    raise ValueError(f"non-strict JSON constant {name}")


def roundtrip(value, key="item"):
    text = Metadata({key: value}).to_json()
    assert isinstance(text, str)
    json.loads(text, parse_constant=_raise_constant)  # strict JSON: no NaN/Infinity tokens
    decoded = Metadata.from_json(text)
    assert isinstance(decoded, Metadata)
    assert list(decoded) == [key]
    return decoded[key]


def _tagged_array(dtype: str, payload: bytes = b"\x00" * 8, shape=(1,)) -> dict:
    return {
        "__type__": "ndarray",
        "dtype": dtype,
        "shape": list(shape),
        "zlib_base64": base64.b64encode(zlib.compress(payload)).decode("ascii"),
    }


# --------------------------------------------------------------------------- dict behaviour


class TestDict:
    def test_is_a_dict_with_flat_keys(self):
        md = Metadata({"stage.x": 1.5}, energy=780.0)
        assert isinstance(md, dict)
        assert md == {"stage.x": 1.5, "energy": 780.0}
        assert md["stage.x"] == 1.5

    @pytest.mark.parametrize("key", [1, 2.5, ("a", "b"), None, b"bytes"])
    def test_non_string_key_setitem(self, key):
        md = Metadata()
        with pytest.raises(TypeError, match="string"):
            md[key] = 1
        assert len(md) == 0

    def test_update_from_a_dict_keeps_arrays_read_only_copies(self):
        # a plain dict of str keys is added in one update; an array among its values still becomes a read-only copy
        source = np.arange(3.0)
        for md in (Metadata({"a": 1, "grid": source}), Metadata(), Metadata()):
            md.update({"a": 1, "grid": source, "masked": np.ma.array([1, 2])})
            assert md["a"] == 1
            assert md["grid"] is not source and not md["grid"].flags.writeable
            assert not md["masked"].flags.writeable
            source[0] = 5.0
            assert md["grid"][0] == 0.0
            source[0] = 0.0

    @pytest.mark.parametrize("key", [1, ("a",), None])
    def test_non_string_key_constructor_update_setdefault(self, key):
        with pytest.raises(TypeError, match="string"):
            Metadata({key: 1})
        with pytest.raises(TypeError, match="string"):
            Metadata([(key, 1)])
        md = Metadata()
        with pytest.raises(TypeError, match="string"):
            md.update({key: 1})
        with pytest.raises(TypeError, match="string"):
            md.setdefault(key, 1)
        assert len(md) == 0

    def test_copy_is_metadata_and_independent(self):
        md = Metadata({"a": 1, "b": [1, 2]})
        cp = md.copy()
        assert isinstance(cp, Metadata)
        cp["a"] = 2
        assert md["a"] == 1
        assert cp["b"] is md["b"]  # shallow

    def test_equality_with_arrays_and_nan(self):
        a = Metadata({"arr": np.array([1.0, np.nan]), "x": math.nan})
        b = Metadata({"arr": np.array([1.0, np.nan]), "x": math.nan})
        assert a == b
        assert not (a != b)
        b["arr"] = np.array([1.0, 2.0])
        assert a != b
        c = Metadata({"arr": np.array([1.0, np.nan], dtype=np.float32), "x": math.nan})
        assert a != c


class TestGroup:
    md = Metadata(
        {
            "collection.polarization.value": -1,
            "collection.polarization.units": "",
            "collection.energy": 780.0,
            "collectionX": 5,
            "stage.x": 1.5,
            "stage.y": -2.0,
            "other": "z",
        }
    )

    def test_group_strips_prefix(self):
        group = self.md.group("stage")
        assert group == {"x": 1.5, "y": -2.0}
        assert isinstance(group, Metadata)

    def test_nested_prefix(self):
        assert self.md.group("collection.polarization") == {"value": -1, "units": ""}
        assert self.md.group("collection") == {"polarization.value": -1, "polarization.units": "", "energy": 780.0}

    def test_trailing_dot_accepted(self):
        assert self.md.group("stage.") == {"x": 1.5, "y": -2.0}

    def test_prefix_is_whole_components(self):
        # "collectionX" must not be part of group("collection"); "stag" matches nothing
        assert "X" not in self.md.group("collection")
        with pytest.raises(KeyError):
            self.md.group("stag")

    @pytest.mark.parametrize("prefix", ["missing", "other", "stage.x"])
    def test_no_match_raises_keyerror(self, prefix):
        with pytest.raises(KeyError):
            self.md.group(prefix)

    def test_group_does_not_modify(self):
        before = dict(self.md)
        self.md.group("stage")["x"] = 99
        assert dict(self.md) == before


class TestTree:
    def test_nested(self):
        md = Metadata({"a.b.c": 1, "a.b.d": 2, "a.e": 3, "f": 4})
        assert md.tree() == {"a": {"b": {"c": 1, "d": 2}, "e": 3}, "f": 4}

    @pytest.mark.parametrize(
        "items",
        [
            [("a", 1), ("a.b", 2), ("a.c.d", 3)],
            [("a.b", 2), ("a", 1), ("a.c.d", 3)],
            [("a.c.d", 3), ("a.b", 2), ("a", 1)],
        ],
    )
    def test_key_that_is_also_prefix_keeps_value_under_empty_key(self, items):
        md = Metadata(items)
        assert md.tree() == {"a": {"": 1, "b": 2, "c": {"d": 3}}}

    def test_dict_value_and_prefix(self):
        md = Metadata({"a": {"x": 1}, "a.b": 2})
        assert md.tree() == {"a": {"": {"x": 1}, "b": 2}}

    def test_tree_returns_plain_dicts_and_leaves_metadata_alone(self):
        md = Metadata({"a.b": 1, "c": 2})
        tree = md.tree()
        assert type(tree) is dict and type(tree["a"]) is dict
        assert dict(md) == {"a.b": 1, "c": 2}


# --------------------------------------------------------------------------- JSON codec

NUMPY_TYPES = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.longdouble,
    np.complex64,
    np.complex128,
    np.clongdouble,
]
NUMPY_ARRAY_DTYPES = [np.dtype(t) for t in NUMPY_TYPES]


class TestJSONRoundTrip:
    @pytest.mark.parametrize(
        "value",
        [
            "text",
            "",
            "ünïcödé ✓ \u0000 \n",
            True,
            False,
            0,
            -17,
            2**100,
            -(2**200) + 1,
            1.5,
            -0.0,
            1e-308,
            1.7976931348623157e308,
            math.nan,
            math.inf,
            -math.inf,
            1 + 2j,
            complex(math.nan, math.inf),
            complex(-math.inf, -0.5),
            None,
            b"",
            b"\x00\xff binary \x89PNG",
            dt.datetime(2020, 1, 2, 3, 4, 5, 678901),
            dt.datetime(2021, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
            dt.datetime(2021, 6, 7, 8, 9, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
            dt.date(1999, 12, 31),
            [],
            [1, "a", None, 2.5, [True, [False]]],
            (),
            (1, "a", (2.5, None)),
            [(1, 2), (3, [4, (5,)])],
            {},
            {"a": 1, "b": {"c": [1, 2], "d": (3, 4)}},
            {1: "int key", 2.5: "float key", (1, 2): "tuple key", None: "none", False: "bool", "s": 0},
            {"__type__": "ndarray", "dtype": "O", "other": 1},
            {"__type__": "float", "value": "nan"},
            {"x": {"__type__": "complex", "real": 1, "imag": 2}},
            {"nested": {1: [dt.date(2000, 1, 1), b"x"]}},
        ],
        ids=lambda v: type(v).__name__,
    )
    def test_python_values(self, value):
        assert_same(value, roundtrip(value))

    def test_huge_int_exact(self):
        value = 3**300
        result = roundtrip(value)
        assert result == value and type(result) is int

    def test_negative_zero_sign_kept(self):
        assert math.copysign(1.0, roundtrip(-0.0)) == -1.0

    def test_naive_and_aware_datetimes_stay_so(self):
        naive = roundtrip(dt.datetime(2020, 1, 2, 3, 4))
        aware = roundtrip(dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=2))))
        assert naive.tzinfo is None
        assert aware.utcoffset() == dt.timedelta(hours=2)

    def test_date_is_not_datetime(self):
        assert type(roundtrip(dt.date(2020, 1, 2))) is dt.date

    @pytest.mark.parametrize("scalar_type", NUMPY_TYPES, ids=lambda t: t.__name__)
    def test_numpy_scalar_every_dtype(self, scalar_type):
        dtype = np.dtype(scalar_type)
        if dtype.kind == "b":
            values = [np.True_, np.False_]
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            values = [dtype.type(info.min), dtype.type(info.max), dtype.type(7)]
        elif dtype.kind == "f":
            info = np.finfo(dtype)
            values = [
                dtype.type(info.max),
                dtype.type(info.tiny),
                dtype.type("nan"),
                dtype.type("-inf"),
                dtype.type(1) / 3,
            ]
        else:
            values = [dtype.type(complex(1, -2)) / 3, dtype.type(complex(math.nan, math.inf))]
        for value in values:
            assert_same(value, roundtrip(value))

    @pytest.mark.parametrize("dtype", NUMPY_ARRAY_DTYPES, ids=str)
    def test_numpy_array_every_dtype(self, dtype):
        rng = np.random.default_rng(0)
        if dtype.kind == "b":
            arr = rng.integers(0, 2, size=(3, 4)).astype(dtype)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            arr = np.array([[info.min, info.max, 0, 1]], dtype=dtype)
        elif dtype.kind == "f":
            arr = np.array([[np.nan, np.inf, -np.inf, 1 / 3]], dtype=dtype)
        else:
            arr = np.array([[complex(np.nan, 1), complex(1, -np.inf), 1 / 3 + 2j]], dtype=dtype)
        assert_same(arr, roundtrip(arr))

    @pytest.mark.parametrize(
        "arr",
        [
            np.array(3.5),
            np.array(7, dtype=np.uint16),
            np.zeros((0,)),
            np.zeros((0, 5), dtype=np.int32),
            np.arange(24, dtype=np.int16).reshape(2, 3, 4),
            np.arange(6, dtype=">f8").reshape(2, 3),
            np.arange(6, dtype=">i4"),
            np.arange(6, dtype=">c16") * (1 + 1j),
            np.asfortranarray(np.arange(12.0).reshape(3, 4)),
            np.arange(40.0).reshape(5, 8)[::2, ::3],
            np.arange(12.0).reshape(3, 4).T,
        ],
        ids=["0d-float", "0d-uint16", "empty-1d", "empty-2d", "3d", "big-endian-f8", "big-endian-i4",
             "big-endian-c16", "fortran", "strided", "transposed"],
    )  # fmt: skip
    def test_numpy_array_shapes_and_orders(self, arr):
        result = roundtrip(arr)
        assert_same(arr, result)
        assert result.dtype.str == arr.dtype.str  # byte order kept
        assert not result.flags.writeable  # arrays in Metadata are read-only copies

    def test_arrays_and_scalars_nested_in_containers(self):
        value = {"arrs": [np.arange(3, dtype=np.uint8), (np.float32(1.5), np.array([True]))], 5: np.int64(3)}
        assert_same(value, roundtrip(value))

    def test_whole_metadata_roundtrip(self):
        md = Metadata(
            {
                "collection.polarization.value": -1,
                "collection.energy": np.float64(780.5),
                "stack": np.arange(8, dtype=np.uint16).reshape(2, 2, 2),
                "time": dt.datetime(2024, 3, 1, 12, 0),
                "history": ["crop(10)", "normalise()"],
                "flags": {"a": True},
                "blob": b"\x01\x02",
            }
        )
        text = md.to_json()
        back = Metadata.from_json(text)
        assert back == md
        assert_same(dict(md), dict(back))
        assert Metadata.from_json(text.encode("ascii")) == md

    def test_top_level_type_key_roundtrip(self):
        # "__type__" is an ordinary string key; the codec must not mistake the whole
        # document for one of its tagged values.
        md = Metadata({"__type__": "complex", "real": 1, "imag": 2})
        back = Metadata.from_json(md.to_json())
        assert_same(dict(md), dict(back))

    def test_output_is_strict_ascii_json(self):
        md = Metadata({"a": math.nan, "b": [math.inf, -math.inf], "c": np.array([np.nan]), "d": "ü"})
        text = md.to_json()
        json.loads(text, parse_constant=_raise_constant)
        assert "NaN" not in text and "Infinity" not in text
        text.encode("ascii")

    def test_to_json_does_not_modify(self):
        md = Metadata({"a": np.arange(3.0), "b": [1, (2, 3)]})
        stored = md["a"]
        md.to_json()
        assert md["a"] is stored and md["b"] == [1, (2, 3)]
        np.testing.assert_array_equal(stored, np.arange(3.0))


class TestJSONErrors:
    @pytest.mark.parametrize(
        "value",
        [
            np.array([1, "a"], dtype=object),
            np.array([None]),
            {1, 2},
            frozenset({1}),
            object(),
            [1, {2}],
            {"inner": object()},
            np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]),
        ],
        ids=["object-array", "none-array", "set", "frozenset", "object", "set-in-list", "object-in-dict", "structured"],
    )
    def test_unsupported_value_names_key(self, value):
        md = Metadata({"my.special.key": value})
        with pytest.raises(TypeError, match="my.special.key"):
            md.to_json()

    @pytest.mark.parametrize("dtype", ["O", "|O", "<O", "object", "V8", "<M8[s]", "<U2", "S3"])
    def test_malicious_array_dtype(self, dtype):
        text = json.dumps({"evil": _tagged_array(dtype)})
        with pytest.raises((ValueError, TypeError)):
            Metadata.from_json(text)

    @pytest.mark.parametrize("dtype", ["O", "|O"])
    def test_malicious_object_array_nested(self, dtype):
        text = json.dumps({"a": [1, {"b": _tagged_array(dtype)}]})
        with pytest.raises((ValueError, TypeError)):
            Metadata.from_json(text)

    @pytest.mark.parametrize("dtype", ["O", "|O"])
    def test_malicious_numpy_scalar_dtype(self, dtype):
        text = json.dumps({"a": {"__type__": "numpy.scalar", "dtype": dtype, "value": 1}})
        with pytest.raises((ValueError, TypeError)):
            Metadata.from_json(text)

    @pytest.mark.parametrize("tag", ["pickle", "eval", "builtins.object", "", "NDARRAY"])
    def test_unknown_tag(self, tag):
        text = json.dumps({"a": {"__type__": tag, "value": "x"}})
        with pytest.raises(ValueError, match="unknown"):
            Metadata.from_json(text)

    @pytest.mark.parametrize(
        "obj",
        [
            {"__type__": "float", "value": "1e400"},
            {"__type__": "float"},
            {"__type__": "bytes", "base64": "not base64!!"},
            {"__type__": "datetime", "iso": "yesterday"},
            {"__type__": "dict", "items": [[[1, 2], "unhashable list key"]]},
            _tagged_array("<f8", payload=b"\x00" * 8, shape=(100,)),
            {"__type__": "ndarray", "dtype": "<f8", "shape": [1], "zlib_base64": "AAAA"},
        ],
        ids=["bad-float", "missing-value", "bad-base64", "bad-iso", "unhashable-key", "shape-mismatch", "bad-zlib"],
    )
    def test_malformed_tagged_values(self, obj):
        with pytest.raises(ValueError):
            Metadata.from_json(json.dumps({"a": obj}))

    @pytest.mark.parametrize("text", ["[1, 2]", "3", '"text"', "null", "true"])
    def test_non_object_json(self, text):
        with pytest.raises(ValueError, match="object"):
            Metadata.from_json(text)

    @pytest.mark.parametrize("text", ["", "{", "{'a': 1}", '{"a": }'])
    def test_invalid_json(self, text):
        with pytest.raises(ValueError):
            Metadata.from_json(text)


# --------------------------------------------------------------------------- literals


class TestParseLiteral:
    @pytest.mark.parametrize(
        "text, expected",
        [
            ("[1, 2.5, 'a', None]", [1, 2.5, "a", None]),
            ("(1, (2, 'x'))", (1, (2, "x"))),
            ("(1,)", (1,)),
            ("{'a': 1, 2: [3, 4]}", {"a": 1, 2: [3, 4]}),
            ("-3", -3),
            ("-2.5e-3", -2.5e-3),
            ("+4", 4),
            ("1+2j", 1 + 2j),
            ("-1-2j", -1 - 2j),
            ("3j", 3j),
            ("inf", math.inf),
            ("-inf", -math.inf),
            ("True", True),
            ("False", False),
            ("None", None),
            ("'text'", "text"),
            ("b'\\x00\\x01'", b"\x00\x01"),
            ("  [1, 2]  ", [1, 2]),
            ("datetime.datetime(2020, 1, 2, 3, 4)", dt.datetime(2020, 1, 2, 3, 4)),
            ("datetime(2020, 1, 2)", dt.datetime(2020, 1, 2)),
        ],
    )
    def test_values(self, text, expected):
        assert_same(expected, parse_literal(text))

    @pytest.mark.parametrize("text", ["nan", "NaN", "-nan"])
    def test_nan(self, text):
        value = parse_literal(text)
        assert type(value) is float and math.isnan(value)

    def test_array_default_dtype(self):
        assert_same(np.array([1.0, 2.0]), parse_literal("array([1., 2.])"))

    @pytest.mark.parametrize(
        "text", ["array([1, 2], dtype=int16)", "array([1, 2], dtype='int16')", "np.array([1, 2], dtype=np.int16)"]
    )
    def test_array_with_dtype(self, text):
        assert_same(np.array([1, 2], dtype=np.int16), parse_literal(text))

    def test_array_2d_repr_roundtrip(self):
        arr = np.array([[1.5, -2.0], [np.nan, np.inf]], dtype=np.float32)
        assert_same(arr, parse_literal(repr(arr)))

    @pytest.mark.parametrize("text", ["array([None, 1])", "array([0, 1, ..., 9])", "array([[1, 2], [3]])"])
    def test_array_never_object(self, text):
        # NumPy's summarised repr ("...") or non-numbers must not give an object array,
        # which the metadata codec could not store.
        try:
            value = parse_literal(text)
        except ValueError:
            return
        assert not (isinstance(value, np.ndarray) and value.dtype.hasobject), repr(value)

    @pytest.mark.parametrize(
        "text",
        [
            "__import__('os').system('echo hi')",
            "open('/etc/passwd').read()",
            "os.system('echo hi')",
            "(lambda: 1)()",
            "print('hi')",
            "[x for x in range(3)]",
            "(1).__class__",
            "2**1000000000",
            "[1] * 10**9",
            "array([1], dtype=object)",
            "array([1], dtype='O')",
            "datetime.datetime(2020, 1, 2, tzinfo=evil)",
            "os",
            "a = 1",
            "",
            "[" * 10000 + "]" * 10000,
        ],
        ids=lambda t: t[:30],
    )
    def test_rejects_code(self, text, capfd):
        with pytest.raises(ValueError):
            parse_literal(text)
        out, err = capfd.readouterr()
        assert "hi" not in out


# --------------------------------------------------------------------------- typed text


class TestSplitTypedKey:
    @pytest.mark.parametrize(
        "key, expected",
        [
            ("AC Angle{Double Float}", ("AC Angle", "Double Float")),
            ("AC{Boolean}", ("AC", "Boolean")),
            ("Comment:{String}", ("Comment:", "String")),
            ("MEAS:VISA {1D Array (Visa Refnum (Void))}", ("MEAS:VISA ", "1D Array (Visa Refnum (Void))")),
            (
                "ST Waveform{Enum U16 ((Sine Wave,Triangle Wave,Square Wave,Sawtooth Wave))}",
                ("ST Waveform", "Enum U16 ((Sine Wave,Triangle Wave,Square Wave,Sawtooth Wave))"),
            ),
            ("Background Images.__text__{String}", ("Background Images.__text__", "String")),
            ("Version", ("Version", None)),
            ("NI Image Type", ("NI Image Type", None)),
            ("", ("", None)),
        ],
    )
    def test_split(self, key, expected):
        assert split_typed_key(key) == expected


class TestParseTypedValue:
    @pytest.mark.parametrize(
        "text, hint, expected",
        [
            ("True", "Boolean", True),
            ("False", "Boolean", False),
            ("16", "I32", 16),
            ("-5", "I32", -5),
            ("11", "I16", 11),
            ("65535", "U16", 65535),
            ("0", "U8", 0),
            ("0.150532", "Double Float", 0.150532),
            ("-148.801716", "Double Float", -148.801716),
            ("1.000000", "Single Float", 1.0),
            ("inf", "Double Float", math.inf),
            ("-Inf", "Double Float", -math.inf),
            ("None", "String", "None"),
            ("16", "String", "16"),
            ("2_290116_d1_field-150_run2_20mA", "String", "2_290116_d1_field-150_run2_20mA"),
            ("C:\\\\Data\\\\run2", "Path", "C:\\\\Data\\\\run2"),
            ("Sine Wave", "Enum U16 ((Sine Wave,Triangle Wave))", "Sine Wave"),
            ("True", "Enum U16 ((True,False))", "True"),
            ("[Dev1/ao0,Dev1/ao1]", "1D Array (Variable Tag [0])", ["Dev1/ao0", "Dev1/ao1"]),
            ("[]", "1D Array (Visa Refnum (Void))", []),
            ("[]", "1D Array (Variable Tag [0])", []),
            ("anything", "Void", None),
            ("", "Void", None),
            ("{'a': 1, 'b': 'x'}", "Cluster (I32,String)", {"a": 1, "b": "x"}),
            ("(1, 'x')", "Cluster (I32,String)", (1, "x")),
            ("[1, 2, 3]", "List", [1, 2, 3]),
            ("['a', [1.5, None]]", "List", ["a", [1.5, None]]),
            ("2020-01-02T03:04:05", "Timestamp", dt.datetime(2020, 1, 2, 3, 4, 5)),
            ("2020-01-02 03:04:05+01:00", "Timestamp", dt.datetime.fromisoformat("2020-01-02 03:04:05+01:00")),
            ("[1, 2]", "Invalid Type", [1, 2]),
            ("<object object at 0x7f>", "Invalid Type", "<object object at 0x7f>"),
            ("text", None, "text"),
            ("1.5", None, "1.5"),
        ],
    )
    def test_typed(self, text, hint, expected):
        assert_same(expected, parse_typed_value(text, hint))

    def test_false_is_false(self):
        assert parse_typed_value("False", "Boolean") is False
        assert parse_typed_value("True", "Boolean") is True

    @pytest.mark.parametrize("text", ["NaN", "nan", " NaN "])
    def test_nan_double(self, text):
        value = parse_typed_value(text, "Double Float")
        assert type(value) is float and math.isnan(value)

    def test_single_float_is_float(self):
        assert type(parse_typed_value("1.000000", "Single Float")) is float

    @pytest.mark.parametrize(
        "text, expected",
        [("[a,b]", ["a", "b"]), ("[1,2]", ["1", "2"]), ("[None]", ["None"]), ("[True,abc]", ["True", "abc"])],
    )
    def test_string_array_elements_stay_strings(self, text, expected):
        # the element hint says String, as "Comment:{String}" = "None" stays "None"
        assert_same(expected, parse_typed_value(text, "1D Array (String)"))

    def test_array_typed_elements(self):
        assert_same(np.array([1.0, 2.0]), parse_typed_value("array([1., 2.])", "1D Array (Double Float)"))
        assert_same([True, False], parse_typed_value("[TRUE,FALSE]", "1D Array (Boolean)"))

    @pytest.mark.parametrize(
        "text, hint",
        [
            ("abc", "I32"),
            ("1.2.3", "Double Float"),
            ("maybe", "Boolean"),
            ("not a date", "Timestamp"),
            ("{'a': ", "Cluster (I32,String)"),
            ("[1, 2", "1D Array (I32)"),
            ("Dev1/ao0", "1D Array (Variable Tag [0])"),
            ("__import__('os').system('echo hi')", "Cluster (I32,String)"),
            ("__import__('os').system('echo hi')", "List"),
            ("__import__('os').system('echo hi')", "Invalid Type"),
        ],
    )
    def test_unparseable_falls_back_to_string(self, text, hint, capfd):
        assert_same(text, parse_typed_value(text, hint))
        assert "hi" not in capfd.readouterr().out


_EXPECTED_TYPES = {
    "Boolean": bool,
    "I32": int,
    "I16": int,
    "U16": int,
    "U8": int,
    "Double Float": float,
    "Single Float": float,
    "String": str,
    "Path": str,
}


def _expected_type(hint):
    if hint is None or hint.startswith("Enum"):
        return str
    if hint.startswith("1D Array"):
        return list
    if hint == "Void":
        return type(None)
    return _EXPECTED_TYPES[hint]


def test_real_kerr_png_text_chunks(kerr_dir):
    from PIL import Image

    path = kerr_dir / "im2_noannotations.png"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with Image.open(path) as img:
        text = dict(img.text)
    assert len(text) > 50
    parsed = {}
    hints_seen = set()
    for key, raw in text.items():
        name, hint = split_typed_key(key)
        hints_seen.add(hint.split(" (")[0] if hint and hint.startswith(("Enum", "1D Array")) else hint)
        value = parse_typed_value(raw, hint)
        assert type(value) is _expected_type(hint), f"{key!r}={raw!r} gave {value!r}"
        if hint in ("String", "Path") or hint is None or hint.startswith("Enum"):
            assert value == raw
        elif hint in ("Double Float", "Single Float") and raw != "NaN":
            assert value == float(raw)
        elif hint in ("I32", "I16", "U16"):
            assert value == int(raw)
        elif hint == "Boolean":
            assert value is (raw == "True")
        parsed[name] = value
    assert {"Boolean", "I32", "I16", "Double Float", "Single Float", "String", "Path", "Enum U16", "1D Array"} <= (
        hints_seen
    )
    assert parsed["AC"] is False
    assert parsed["DC"] is True
    assert parsed["MicronsPerPixel"] == 0.258186
    assert parsed["Background Images"] == 16
    assert parsed["Background Images.__text__"] == "16"
    assert parsed["Offset/bits"] == 11
    assert parsed["Comment:"] == "None"
    assert math.isnan(parsed["Y-B-2d"])
    assert parsed["BNC:Channel"] == ["Dev1/ao0", "Dev1/ao1"]
    assert parsed["MEAS:VISA "] == []
    assert parsed["ST Waveform"] == "Sine Wave"
    assert parsed["Version"] == "National Instruments IMAQ Vision 8.6.0"


def test_arrays_are_stored_as_read_only_copies():
    source = np.arange(4.0)
    md = Metadata({"a": source})
    source[0] = 99.0  # changing the array given does not change the metadata
    assert md["a"][0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        md["a"][1] = 5.0
    view = md.copy()
    assert view["a"] is md["a"]  # shared, and safe to share because nobody can change it
    view["a"] = np.zeros(4)
    assert md["a"][3] == 3.0


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", " -3", "+4.5e3", ".5", "nan", "Inf", "None", "True", "b'x'", "rb'x'", "'s'", '"s"', "u'x'",
     "array([1.0, 2.0], dtype='float32')", "np.array([1])", "numpy.array([2])", "datetime.datetime(2020, 1, 2)",
     "{1: 'a'}", "(1,)", "1+2j", "-1-2j", "...", "Dev1/ao0", "x", "nan_value", "Nonesuch", "array_x",
     "not 1", "~1", "lambda: 1", "f'x'", "\n [3]", "１", "[Dev1/ao0,Dev1/ao1]"],
)  # fmt: skip
def test_parse_literal_quick_rejection_changes_no_result(text):
    """The check of the first characters (issue 17) only saves parsing text that _literal would reject."""
    import ast

    from stonerimg.metadata import _literal

    try:
        expected = _literal(ast.parse(text.strip(), mode="eval").body)
    except (ValueError, SyntaxError, TypeError):
        expected = ValueError
    try:
        got = parse_literal(text)
    except ValueError:
        got = ValueError
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected or (got != got and expected != expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, -2.5, True, None, 1+2j]", [1, -2.5, True, None, 1 + 2j]),
        ("[Dev1/ao0,Dev1/ao1]", ["Dev1/ao0", "Dev1/ao1"]),
        ("[[1, 2], [3]]", [[1, 2], [3]]),
        ("['a', 'b,c']", ["a", "b,c"]),
        ("[1, 2,]", [1, 2]),
        ("[]", []),
    ],
)
def test_arrays_of_untyped_elements_parse_like_their_list_literal(text, expected):
    # single-token items are parsed one by one without ast (issue 17): the same values as the literal
    assert parse_typed_value(text, "1D Array (Variable Tag [0])") == expected
