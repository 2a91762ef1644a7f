"""A small registry with one field of every merge kind, shared by the engine's tests."""

import orjson

from sync.ops import to_wire
from sync.registry import EntityType, FieldSpec, Registry, machine

JOB_MACHINE = machine(
    "scheduled",
    {"scheduled": ["en_route"], "en_route": ["on_site"], "on_site": ["completed", "problem"], "problem": ["en_route"]},
    from_any=["on_hold", "cancelled"],
    resumable=["on_hold"],
    terminal=["completed", "cancelled"],
)


def _short_text(value):
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        raise ValueError("must be text of at most 200 characters")


def _time_log(record):
    minutes = record.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        raise ValueError("minutes must be a positive whole number")


REGISTRY = Registry([
    EntityType("job", {
        "title": FieldSpec("lww", validator=_short_text),
        "notes": FieldSpec("lww"),
        "status": FieldSpec("status", machine=JOB_MACHINE),
        "stock": FieldSpec("counter"),
        "tags": FieldSpec("set"),
    }),
    EntityType("time_log", append_only=True, record_validator=_time_log),
])

# A fixed "now" for tests that do not care about the clock bound: far beyond any HLC they make.
FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01


def history_on_the_wire_matches(replica, entities) -> bool:
    """Whether ``history_wire`` (what a hub sends) is ``history_ops`` in wire form, as JSON."""
    expected = orjson.loads(orjson.dumps([to_wire(op) for op in replica.history_ops(entities)]))
    return orjson.loads(orjson.dumps(replica.history_wire(entities))) == expected
