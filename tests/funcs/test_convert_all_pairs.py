"""convert() over every pair of NumPy numeric dtypes, against an exact reference.

The reference evaluates scikit-image's ``img_as_*`` rules (``skimage.util.dtype._convert``)
with Python integers and fractions, so it has no rounding and no overflow of its own:
floats live in [0, 1] (unsigned targets) or [-1, 1] (signed), integers use their whole
range, integer widths are changed by bit replication (up) or floor division (down), and
values that already fit a narrower type are kept (as scikit-image does; for signed types
only when the minimum fits too).  The ends of every range must come out exactly.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stonerimg import ImageArray, funcs

INTS = [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64]
FLOATS = [np.float16, np.float32, np.float64] + ([np.longdouble] if np.dtype(np.longdouble).itemsize > 8 else [])
DTYPES = [np.dtype(t) for t in [np.bool_, *INTS, *FLOATS]]
PAIRS = [(a, b) for a in DTYPES for b in DTYPES if a != b]


def _bits(dtype: np.dtype) -> int:
    return 8 * dtype.itemsize


def _exact(value) -> Fraction:
    """A float (of any width, longdouble included) as an exact fraction."""
    return Fraction(*np.asarray(value)[()].as_integer_ratio())


def _round_half_even(q: Fraction) -> int:
    return round(q)  # Python rounds a Fraction half to even, as np.rint does


def _scale(values: list[int], n: int, m: int, signed: bool) -> list[int]:
    """scikit-image's ``_scale``: ``n``-bit values to ``m`` bits, exactly."""
    if n > m:
        low = min(values, default=0)
        if max(values, default=0) < 2**m and (not signed or low >= -(2**m)):
            return list(values)  # they fit: kept
        return [v // 2 ** (n - m) for v in values]
    if n == m:
        return list(values)
    o = (m // n + 1) * n if m % n else m
    return [v * ((2**o - 1) // (2**n - 1)) // 2 ** (o - m) for v in values]


def reference(data: np.ndarray, out: np.dtype, uniform: bool = False) -> list:
    """The exact result of converting ``data`` to ``out`` as Python numbers."""
    din = data.dtype
    flat = data.ravel().tolist() if din.kind != "f" else [_exact(v) if np.isfinite(v) else v for v in data.ravel()]
    if out.kind == "b":
        if din.kind == "f":
            return [bool(v > Fraction(1, 2)) for v in flat]
        return [v > np.iinfo(din).max // 2 for v in flat]
    if din.kind == "b":
        return [float(v) if out.kind == "f" else int(v) * int(np.iinfo(out).max) for v in flat]
    if din.kind == "f" and out.kind == "f":
        return list(data.ravel().astype(out))
    if din.kind == "f":
        info = np.iinfo(out)
        low = 0 if out.kind == "u" else -1
        result = []
        for v in flat:
            if not isinstance(v, Fraction):  # NaN
                result.append(0)
                continue
            v = min(max(v, low), 1)
            if uniform:
                q = v * (int(info.max) + 1) if out.kind == "u" else v * (int(info.max) - int(info.min) + 1) / 2
                r = math.floor(q)
            else:
                q = v * int(info.max) if out.kind == "u" else v * (int(info.max) - int(info.min)) / 2 - Fraction(1, 2)
                r = _round_half_even(q)
            result.append(min(max(r, int(info.min)), int(info.max)))
        return result
    info_in = np.iinfo(din)
    if out.kind == "f":
        return [max(Fraction(v, int(info_in.max)), -1) for v in flat]
    n, m = _bits(din), _bits(out)
    if din.kind == "u":
        return _scale(flat, n, m - 1 if out.kind == "i" else m, signed=False)
    if out.kind == "u":
        return [max(v, 0) for v in _scale([max(v, 0) for v in flat], n - 1, m, signed=False)]
    if n > m:
        return _scale(flat, n - 1, m - 1, signed=True)
    lo_in, lo_out = int(info_in.min), int(np.iinfo(out).min)
    return [v + lo_out for v in _scale([v - lo_in for v in flat], n, m, signed=False)]


def extremes(dtype: np.dtype) -> np.ndarray:
    """The values at and next to the ends and the middle of the type's range."""
    if dtype.kind == "b":
        return np.array([False, True])
    if dtype.kind == "f":
        below_one = np.nextafter(dtype.type(1), dtype.type(0))
        tiny = np.finfo(dtype).smallest_subnormal
        eps = np.finfo(dtype).eps
        values = [-1, -below_one, -0.5, -eps, -tiny, 0, tiny, eps, 0.25, 0.5, 1 - eps, below_one, 1]
        return np.array(values, dtype=dtype)
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    values = {lo, lo + 1, hi, hi - 1, hi // 2, hi // 2 + 1, 0, 1, 2, 127, 128, 255, 256}
    if lo < 0:
        values |= {-1, -2, lo // 2, lo // 2 - 1}
    return np.array(sorted(v for v in values if lo <= v <= hi), dtype=dtype)


def _convert(data: np.ndarray, out: np.dtype, **kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = funcs.convert(ImageArray(data), out, **kwargs)
    assert isinstance(result, ImageArray)
    assert result.dtype == out, f"{data.dtype} -> {out} gave {result.dtype}"
    return np.asarray(result.data).reshape(data.shape)  # ImageArray holds a 1-D input as one row


def _tolerance(din: np.dtype, out: np.dtype, value) -> float:
    """How far the floating-point computation may be from the exact result (0 at the ends)."""
    if din.kind == "f" and out.kind in "ui":
        if value in (-1, 0, 1):
            return 0  # -1, 0 and 1 map exactly onto the ends (and the zero) of the integer range
        # the product x * imax is rounded to the computation's 53 (or 24) bits before rint
        return 1 if _bits(out) <= 32 else 2.0 ** (_bits(out) - 52)
    if din.kind in "ui" and out.kind == "f":
        return 2 * float(np.finfo(out).eps)  # relative; the ends are checked exactly
    return 0


def check(data: np.ndarray, out: np.dtype, uniform: bool = False) -> None:
    result = _convert(data, out, uniform=uniform)
    expected = reference(data, out, uniform)
    din = data.dtype
    got = list(result.ravel())
    for value, g, e in zip(data.ravel().tolist(), got, expected, strict=True):
        g = (
            _exact(g)
            if out.kind == "f" and np.isfinite(g)
            else (g if out.kind == "f" else int(g) if out.kind != "b" else bool(g))
        )
        where = f"{din} {value!r} -> {out}: got {g!r}, expected {e!r}"
        if din.kind in "ui" and out.kind == "f":
            if e in (-1, 0, 1):
                assert g == e, where  # the ends and zero exactly
            else:
                # relative to the value, or absolute near zero where float16 underflows
                tiny = _exact(np.finfo(out).smallest_subnormal)
                assert abs(g - e) <= abs(e) * Fraction(_tolerance(din, out, value)) + tiny, where
        elif din.kind == "f" and out.kind in "ui":
            assert abs(int(g) - e) <= _tolerance(din, out, value), where
        elif out.kind == "f":
            e = _exact(e) if np.isfinite(e) else e
            assert g == e or (np.isnan(float(g)) and np.isnan(float(e))), where
        else:
            assert g == e, where


@pytest.mark.parametrize(("din", "out"), PAIRS, ids=[f"{a.name}-{b.name}" for a, b in PAIRS])
def test_convert_extremes_of_every_pair(din, out):
    check(extremes(din), out)
    if din.kind in "ui":
        # only the low half: a narrower type's "values already fit" rule must look at the minimum too
        low = extremes(din)
        check(low[low <= 127], out)
    if din.kind == "f" and out.kind in "ui":
        check(extremes(din), out, uniform=True)


@pytest.mark.parametrize("out", [np.dtype(t) for t in INTS], ids=lambda d: d.name)
@pytest.mark.parametrize("din", [np.dtype(t) for t in FLOATS], ids=lambda d: d.name)
def test_float_range_ends_hit_the_integer_range_ends_exactly(din, out):
    info = np.iinfo(out)
    low = -1 if out.kind == "i" else 0
    result = _convert(np.array([low, 1], dtype=din), out)
    assert result.tolist() == [int(info.min), int(info.max)]
    back = _convert(np.array([info.min, info.max], dtype=out), din)
    assert back.tolist() == [float(low), 1.0]


def test_the_issue_examples():
    assert _convert(np.array([[-1.0, 0.5, 1.0]]), np.dtype(np.int64)).tolist() == [[-(2**63), 2**62, 2**63 - 1]]
    assert _convert(np.array([[0.0, 1.0]]), np.dtype(np.uint64)).tolist() == [[0, 2**64 - 1]]
    assert _convert(np.array([[-(2**62), 0]], np.int64), np.dtype(np.int8)).tolist() == [[-64, 0]]


@st.composite
def _pair_and_data(draw):
    din, out = draw(st.sampled_from(PAIRS))
    ends = st.sampled_from(extremes(din).tolist())
    if din.kind == "f":
        elements = st.one_of(st.floats(-1, 1, width=min(64, _bits(din)), allow_subnormal=True), ends)
    elif din.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(din)
        small = st.integers(max(int(info.min), -300), min(int(info.max), 300))
        elements = st.one_of(st.integers(int(info.min), int(info.max)), small, ends)
    data = draw(hnp.arrays(din, st.integers(1, 12), elements=elements))
    # mix in the extremes so every draw also holds the ends
    picks = draw(st.lists(st.sampled_from(extremes(din).tolist()), max_size=4))
    if picks:
        data = np.concatenate([data, np.array(picks, dtype=din)])
    return data, out, draw(st.booleans())


@settings(max_examples=800, deadline=None)
@given(_pair_and_data())
def test_convert_property_over_all_pairs(case):
    data, out, uniform = case
    check(data, out, uniform=uniform and data.dtype.kind == "f" and out.kind in "ui")


def test_unsupported_dtypes_are_refused_by_name():
    with pytest.raises(ValueError, match="complex128"):
        funcs.convert(ImageArray(np.zeros((2, 2), complex)), np.uint8)


# ------------------------------------------------------------ normalise hits the ends exactly
@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(2, 40), elements=st.floats(-1e6, 1e6, allow_subnormal=False)),
    st.sampled_from([(-1.0, 1.0), (0.0, 1.0), (0.1, 0.3), (1e-3, 7.7), (5.0, -2.5), (-0.3, -0.1)]),
)
def test_normalise_hits_both_ends_of_the_target_exactly(values, scale):
    if values.min() == values.max():
        return  # a flat image is refused (tested elsewhere)
    result = np.asarray(ImageArray(values).normalise(scale=scale).data).ravel()
    assert result[np.argmin(values)] == scale[0]
    assert result[np.argmax(values)] == scale[1]
    assert min(scale) <= result.min() and result.max() <= max(scale)
    # against the closed form (NumPy, independent): a linear map, to round-off
    expected = scale[0] + (values - values.min()) * (scale[1] - scale[0]) / (values.max() - values.min())
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12 * max(abs(s) for s in scale))


def test_normalise_of_the_issue_example():
    result = ImageArray(np.array([[0.1, 0.3]])).normalise()
    assert result.tolist() == [[-1.0, 1.0]]
