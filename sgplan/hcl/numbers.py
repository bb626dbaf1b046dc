"""HCL's one number type as Python values: whole numbers as int, the rest as float.

Numeric literals are made here (the syntax layer) and by arithmetic (sgplan.config.values)."""

from __future__ import annotations

import decimal
import math

MAX_NUMBER_BITS = 1024  # whole numbers below 2**1024 (about 1.8e308, the float64 range)


def number(value: float) -> int | float:
    """Integral numbers as int (HCL has one number type; `6 / 2` is `3`).

    Beyond 2**53 a float's exact binary value has digits nobody wrote (`1e22 * 1.6` is not
    16000000000000000000000 in binary); its shortest decimal form is what cty's 512-bit numbers
    hold for the literal or the result, so that is the int taken."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        if -_EXACT_FLOAT_INTS <= value <= _EXACT_FLOAT_INTS:
            return int(value)
        return int(decimal.Decimal(repr(value)))
    return value


_EXACT_FLOAT_INTS = float(2**53)
