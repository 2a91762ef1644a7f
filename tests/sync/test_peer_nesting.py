"""The peer protocol bounds how deep a message may nest, as the hub bounds a request body: a
value too deep for the store's encoder is refused by name before anything is stored, instead of
failing the ingest (or the quarantine that would keep the op) halfway."""

from __future__ import annotations

import orjson

from sync import hlc
from sync.ops import APPEND, MAX_DEPTH, MESSAGE_LEVELS, TOO_DEEP, Op, to_wire
from sync.protocol import PROTOCOL_VERSION, handle
from sync.store import SqliteReplica
from tests.sync.model import FAR_FUTURE_MS, REGISTRY


def nested(levels: int) -> object:
    value: object = "leak"
    for _ in range(levels):
        value = [value]
    return value


def push(replica: SqliteReplica, *ops: Op, deep: int = 0) -> dict:
    """A push of ``ops``; with ``deep``, each "DEEP" string in them stands for a list nested that
    many levels, written as text: no JSON encoder writes the deepest."""
    message = orjson.dumps({"type": "push", "v": PROTOCOL_VERSION, "ops": [to_wire(op) for op in ops]})
    message = message.replace(b'"DEEP"', b"[" * deep + b'"leak"' + b"]" * deep)
    return orjson.loads(handle(message, replica, FAR_FUTURE_MS))


def test_a_push_holding_a_value_beyond_what_a_message_may_nest_is_refused_by_name_and_stores_nothing(tmp_path):
    replica = SqliteReplica.open(tmp_path / "peer.db", "peer", REGISTRY)
    fine = Op("tablet", 1, hlc.pack(1_000), "time_log", "t1", APPEND, "", {"minutes": 5})
    # Deeper than orjson writes (254 levels), though well within what it reads.
    deep = Op("tablet", 2, hlc.pack(2_000), "time_log", "t2", APPEND, "", {"minutes": 5, "x": "DEEP"})
    reply = push(replica, fine, deep, deep=300)
    assert reply["type"] == "error" and not reply["retryable"]
    assert TOO_DEEP in reply["error"] and "ops.1.7.x" in reply["error"]
    assert replica.op_count() == 0 and replica.quarantined() == []
    assert push(replica, fine)["accepted"] == 1  # the peer goes on serving


def test_a_value_as_deep_as_a_record_may_nest_passes_the_message_bound(tmp_path):
    replica = SqliteReplica.open(tmp_path / "peer.db", "peer", REGISTRY)
    record = {"minutes": 5, "x": nested(MAX_DEPTH)}
    assert MESSAGE_LEVELS > MAX_DEPTH + 4  # the op's place in the message, the record, the field
    reply = push(replica, Op("tablet", 1, hlc.pack(1_000), "time_log", "t1", APPEND, "", record))
    assert reply["accepted"] == 1
    assert replica.entity("time_log", "t1")["value"] == record
