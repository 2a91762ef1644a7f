"""``counter``: the sum of every delta ever written (stock quantities).

Deltas are integers or decimal strings ("0.5" metres of cable), summed as ``Decimal`` so no
arrival order can change the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ..errors import InvalidOp
from ..ops import INCR, Op
from ..registry import FieldSpec, RegisterKey
from .base import Conflict, MergeContext, require_action, require_no_refs, run_validator

# A delta has at most 12 digits before the point and 6 after. Bounded scale is what keeps every
# sum exact inside Decimal's default 28 digits — and exactness is what makes the total the same
# in every arrival order (a rounded sum would depend on which deltas met first).
MAX_INTEGER_DIGITS = 12
MAX_DECIMALS = 6
_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS
_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def to_decimal(value: Any) -> Decimal:
    """Parse a delta; raises ValueError with the reason."""
    if type(value) is int and -_INTEGER_BOUND < value < _INTEGER_BOUND:
        return Decimal(value)  # the common delta, within the bounds checked below
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a delta must be an integer or a decimal string such as \"-1.5\"")
    if isinstance(value, str) and not _DECIMAL_TEXT.match(value):
        raise ValueError(f"{value!r} is not a plain decimal number such as \"-1.5\"")
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by the pattern above
    if -exponent > MAX_DECIMALS:
        raise ValueError(f"a delta may have at most {MAX_DECIMALS} decimal places")
    if number and number.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"a delta may have at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    return number


def to_json_number(number: Decimal) -> int | str:
    """Integers that fit in 64 bits stay integers; anything else travels as an exact string."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0 and abs(number) < 2**63:
        return int(number)
    return str(number)


class Counter:
    name = "counter"
    actions = frozenset({INCR})

    def validate(self, op: Op, spec: FieldSpec | None) -> None:
        require_action(op, self.actions, self.name)
        require_no_refs(op)
        try:
            to_decimal(op.value)
        except ValueError as exc:
            raise InvalidOp(op.field, str(exc)) from None
        run_validator(spec.validator if spec else None, op.field, op.value)

    def merge(self, register: Decimal | None, ops: Sequence[Op], ctx: MergeContext) -> Decimal:
        total = register if register is not None else Decimal(0)
        for op in ops:
            total += to_decimal(op.value)
        return total

    def read(self, register: Decimal) -> int | str:
        return to_json_number(register)

    def conflicts(self, key: RegisterKey, register: Decimal) -> list[Conflict]:
        return []

    def is_empty(self, register) -> bool:
        return False

    def history(self, register: Decimal) -> None:
        """A sum keeps no trace of its deltas: every one of them is needed (read from the log)."""
        return None

    def history_ops(self, key: RegisterKey, register: Any) -> None:
        return None

    def encode(self, register: Decimal) -> tuple[Any, Any]:
        return to_json_number(register), None

    def decode(self, value: Any, meta: Any) -> Decimal:
        return Decimal(value)


COUNTER = Counter()
