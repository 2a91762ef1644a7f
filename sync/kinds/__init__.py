"""The merge kinds, registered by name: adding a kind is adding one module and one line here."""

from __future__ import annotations

from .append import APPEND_KIND
from .base import Conflict, MergeContext, MergeKind
from .counter import COUNTER
from .lww import LWW
from .orset import ORSET
from .status import STATUS
from .tombstone import TOMBSTONE

KINDS: dict[str, MergeKind] = {kind.name: kind for kind in (LWW, COUNTER, STATUS, ORSET, APPEND_KIND, TOMBSTONE)}

__all__ = ["KINDS", "Conflict", "MergeContext", "MergeKind"]
