"""Numbers and physical quantities written for people: the one formatter of the project.

``format_quantity(0.015000000000000138, "µm")`` gives ``"15 nm"``: six significant
digits (``%.6g``) with the float noise of a calibration dropped, and an SI prefix
chosen so the number reads naturally.  The notebook reprs, ``stonerimg info``,
scale bars and the documentation all write numbers through these functions.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "format_calibration",
    "format_number",
    "format_quantity",
    "format_value",
    "length_in",
    "pixel_size_text",
]

#: SI prefixes from femto to giga, by power of ten.
_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}
_BY_PREFIX = {v: k for k, v in _PREFIXES.items()}
_MICRO = ("µ", "μ", "u")  # micro sign, Greek mu, and the ASCII stand-in instruments write
#: Units whose prefix may be changed (the SI units and the electron volt).
_BASES = ("m", "s", "V", "eV", "A", "Hz", "T", "W", "Pa", "Oe")
_ALIASES = {"micron": "µm", "microns": "µm", "um": "µm", "μm": "µm", "angstrom": "Å", "Angstrom": "Å"}
#: Magnitudes kept in the units a file gave them in (0.25 nm stays 0.25 nm, not 250 pm).
_KEEP_LOW, _KEEP_HIGH = 0.1, 1000.0


def format_number(value, digits: int = 6) -> str:
    """Write a number with at most ``digits`` significant digits and no float noise.

    Examples
    --------
    >>> format_number(0.015000000000000138), format_number(781.4934535490478), format_number(225000.0)
    ('0.015', '781.493', '225000')
    >>> format_number(True), format_number(3), format_number(float("nan"))
    ('True', '3', 'nan')
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return f"{value.real:.{digits}g}{value.imag:+.{digits}g}j"
    if isinstance(value, numbers.Real):
        text = f"{float(value):.{digits}g}"
        return "0" if text == "-0" else text
    return str(value)


def _split_units(units: str) -> tuple[int, str] | None:
    """Return ``(power, base)`` for a prefixable unit (``"nm"`` -> ``(-9, "m")``), else None."""
    units = _ALIASES.get(units, units)
    if units in _BASES:
        return 0, units
    head, base = units[:1], units[1:]
    if head in _MICRO:
        head = "µ"
    if base in _BASES and head in _BY_PREFIX:
        return _BY_PREFIX[head], base
    return None


def format_quantity(value, units: str = "", digits: int = 6) -> str:
    """Write ``value`` with its units, rescaling an SI prefix when the number would read badly.

    A magnitude from 0.1 to 1000 keeps the units given; outside that range a
    prefixable unit (``m``, ``s``, ``V``, ``eV``, ``A``, ``Hz``, ``T``, ... with or
    without a prefix) takes the prefix that puts the number between 1 and 1000.
    Other units (``px``, ``1/nm``, ``counts``) are written as they are.

    Examples
    --------
    >>> format_quantity(0.015000000000000138, "µm"), format_quantity(0.2485380172, "nm")
    ('15 nm', '0.248538 nm')
    >>> format_quantity(200000.0, "V"), format_quantity(0.01, "s"), format_quantity(2.5, "px")
    ('200 kV', '10 ms', '2.5 px')
    >>> format_quantity(0.16867471098853332, "micron"), format_quantity(-1500, "nm"), format_quantity(225000.0, "×")
    ('0.168675 µm', '-1.5 µm', '225000×')
    """
    units = "" if units is None else str(units).strip()
    units = _ALIASES.get(units, units)
    if units in ("×", "x") and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return f"{format_number(value, digits)}×"  # a magnification: 225000×
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return f"{format_number(value, digits)} {units}".strip()
    value = float(value)
    split = _split_units(units)
    magnitude = abs(value)
    if split is not None and math.isfinite(value) and value != 0 and not _KEEP_LOW <= magnitude < _KEEP_HIGH:
        power, base = split
        shift = 3 * math.floor(math.log10(magnitude) / 3)
        new_power = min(max(power + shift, min(_PREFIXES)), max(_PREFIXES))
        value *= 10.0 ** (power - new_power)
        if abs(float(f"{value:.{digits}g}")) >= 1000 and new_power + 3 in _PREFIXES:  # 999.9999996 rounds up
            value, new_power = value / 1000, new_power + 3
        units = _PREFIXES[new_power] + base
    return f"{format_number(value, digits)} {units}".strip()


def length_in(value: float, units: str, target: str) -> float | None:
    """Convert ``value`` from ``units`` to ``target`` when both are one SI unit with prefixes, else None.

    Examples
    --------
    >>> length_in(15.0, "nm", "µm"), length_in(1.0, "px", "nm")
    (0.015, None)
    """
    a, b = _split_units(str(units)), _split_units(str(target))
    if a is None or b is None or a[1] != b[1]:
        return None if _ALIASES.get(units, units) != _ALIASES.get(target, target) else float(value)
    return float(value) * 10.0 ** (a[0] - b[0])


def pixel_size_text(scale: float, units: str) -> str:
    """Write one axis' pixel size: ``"15 nm/px"`` (``"1 px"`` for an uncalibrated axis).

    Examples
    --------
    >>> pixel_size_text(-0.015000000000000138, "µm"), pixel_size_text(1.0, "px")
    ('15 nm/px', '1 px')
    """
    if units in ("", "px", "pixel", "pixels"):
        return f"{format_number(abs(scale))} px"
    return f"{format_quantity(abs(scale), units)}/px"


def format_calibration(calibration) -> str:
    """Write an image's :class:`~stonerimg.Calibration` for people.

    Square pixels give one size (``"15 nm/px"``), others both
    (``"15 nm/px (x) × 30 nm/px (y)"``); an uncalibrated image gives ``"uncalibrated"``.

    Examples
    --------
    >>> from stonerimg import Calibration, AxisCalibration
    >>> format_calibration(Calibration(AxisCalibration(0.015000000000000138, 880.78, "µm"),
    ...                                AxisCalibration(-0.015000000000000138, 453.98, "µm")))
    '15 nm/px'
    """
    x, y = calibration
    if x.units in ("", "px") and y.units in ("", "px") and abs(x.scale) == 1 and abs(y.scale) == 1:
        return "uncalibrated"
    tx, ty = pixel_size_text(x.scale, x.units), pixel_size_text(y.scale, y.units)
    return tx if tx == ty else f"{tx} (x) × {ty} (y)"


def format_value(value, units: str = "", limit: int = 80) -> str:
    """Write any metadata value short and readable, numbers through :func:`format_quantity`.

    An array or list of numbers that are all equal is written as one value, a
    longer one as its range and length; text is cut at ``limit`` characters.

    Examples
    --------
    >>> import numpy as np
    >>> format_value(np.array([707.71925, 707.71925]), "eV"), format_value([1.5, 2.0, 2.5], "mT")
    ('707.719 eV', '1.5 mT … 2.5 mT (3 values)')
    >>> format_value("sample image"), format_value(np.float64(0.2))
    ('sample image', '0.2')
    """
    import datetime

    units = "" if units is None else str(units).strip()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
        array = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if array.dtype.kind in "biuf" and array.size:
            flat = array.ravel()
            if flat.size == 1 or bool(np.all(flat == flat[0])):
                return format_value(flat[0].item(), units, limit)
            if flat.dtype.kind == "f" and not np.isfinite(flat).any():
                return format_value(float("nan"), units, limit)
            low, high = np.nanmin(flat).item(), np.nanmax(flat).item()
            shape = " × ".join(map(str, array.shape))
            return f"{format_quantity(low, units)} … {format_quantity(high, units)} ({shape} values)"
        text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    elif isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, (str, bytes)):
        text = format_quantity(value.item() if isinstance(value, np.generic) else value, units)
        return text
    else:
        text = value if isinstance(value, str) else repr(value)
        if units:
            text = f"{text} {units}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
