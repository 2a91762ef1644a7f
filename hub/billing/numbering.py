"""Invoice numbers and invoice ids.

Numbers: one sequence for every document the hub issues (invoices, supplementary invoices and
credit notes alike), ``INV-000001`` upwards, assigned when a document is *sent* — drafts have no
number, so a discarded draft leaves no gap. The counter is the invoices themselves: the next
number is one more than the highest number held, read and written in the same transaction under
the store's single writer. A number is never reused because a sent invoice can never be voided or
deleted (the invoice state machine: sent -> paid only).

Ids: time-ordered like every office id (UUIDv7 layout: the hub clock's milliseconds first), with
the rest taken from a hash of what the invoice is for, so the plan is a pure function of the
state and the time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

PREFIX = "INV-"
WIDTH = 6
_NUMBER = re.compile(rf"^{PREFIX}(\d+)$")


def number_of(value: Any) -> int | None:
    match = _NUMBER.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def next_number(invoices: Iterable[dict[str, Any]]) -> str:
    """The number the next invoice sent gets: one above the highest held."""
    highest = max((n for invoice in invoices if (n := number_of(invoice.get("number"))) is not None), default=0)
    return f"{PREFIX}{highest + 1:0{WIDTH}d}"


def invoice_id(now_ms: int, seed: str) -> str:
    """A UUIDv7-layout id: 48 bits of ``now_ms``, then 74 bits of SHA-256 of ``seed``."""
    bits = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    high, low = bits >> 62 & 0xFFF, bits & (1 << 62) - 1
    value = (now_ms & (1 << 48) - 1) << 80 | 0x7 << 76 | high << 64 | 0b10 << 62 | low
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
