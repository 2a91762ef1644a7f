"""A van's stock, recorded offline, and the recording primitives every agent command shares.

The van's stock is escrow (DESIGN.md): the hub transfers stock to a van, and only the van's own
devices — its terminal and its technician's tablet — spend it, without asking anyone. Each
movement is written twice in one transaction: a ``stock_move`` record (the audit trail) and a
delta on the ``stock`` counter ``on_hand`` (entity ``<van>:<sku>``), so the counter always equals
the ledger. Going below zero is warned about and recorded anyway: the technician is never
blocked; the hub raises the stock exception.

This is the lower layer of the agent's command libraries: :class:`Batch`, :class:`Recorded`,
:class:`NotRecorded`, record ids and :func:`void` live here because ``visit.py`` builds on the
van's stock (a part used on a job comes out of the van), both kinds of device void their own
records, and a void of a stock movement puts its quantity back.
"""

from __future__ import annotations

import difflib
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError

from schema import SCHEMAS
from schema.base import reason as reason_of
from schema.resources import pieces_refused
from sync.errors import SyncError
from sync.kinds.counter import to_decimal, to_json_number
from sync.ops import APPEND, INCR, MOVE, SET, VOID, OpId

from .agent import Agent


class NotRecorded(SyncError):
    """A command refused on this device before anything was written; names the field and the fix."""

    def __init__(self, field: str, reason: str, hint: str = "", errors: list[tuple[str, str]] | None = None) -> None:
        self.field = field
        self.reason = reason
        self.errors = errors or [(field, reason)]
        super().__init__("not recorded — " + "; ".join(f"{f}: {r}" for f, r in self.errors), hint=hint)


@dataclass
class Recorded:
    """What one command wrote: records appended, fields changed, and warnings for the technician."""

    command: str
    description: str
    job_id: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    ops: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self)}


class IdClock:
    """UUIDv7 layout: 48-bit milliseconds, version 7, a 12-bit sequence, variant, 62 random bits.

    Time-ordered keys insert several times faster into SQLite than random ones (DESIGN.md), and
    ``views.job_card`` takes the latest checklist record in id order; the sequence keeps the ids
    made by this process within one millisecond in order too.
    """

    def __init__(self) -> None:
        self.ms = 0
        self.seq = 0

    def next(self, now_ms: int, entropy: bytes | None = None) -> str:
        if now_ms > self.ms:
            self.ms, self.seq = now_ms, 0
        else:
            self.seq += 1
            if self.seq > 0xFFF:
                self.ms, self.seq = self.ms + 1, 0
        rand = int.from_bytes(entropy or os.urandom(8), "big") & ((1 << 62) - 1)
        value = (self.ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | self.seq << 64 | 0b10 << 62 | rand
        return str(uuid.UUID(int=value))


_ids = IdClock()


def new_record_id(now_ms: int, entropy: bytes | None = None) -> str:
    """A new time-ordered record id (UUIDv7-like): later ids from this process sort after earlier ones."""
    return _ids.next(now_ms, entropy)


def validate(entity: str, value: dict[str, Any]) -> None:
    """Check a whole record against its schema; NotRecorded names every offending field."""
    try:
        SCHEMAS[entity]().load(value)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"value": exc.messages}
        errors = [(name, reason_of(ValidationError(message))) for name, message in messages.items()]
        raise NotRecorded(errors[0][0], errors[0][1], errors=errors) from None


def whole_pieces(agent: Agent, record: dict[str, Any]) -> None:
    """A part use or a stock movement of an item counted each is in whole pieces."""
    refused = pieces_refused(record, agent.replica.entity("item", record["sku"]))
    if refused:
        # The command's own argument is QTY, whichever field of the record holds it.
        raise NotRecorded("qty", refused[1], hint="give a whole number of pieces, e.g. 1")


class Batch:
    """Collects one command's changes; :meth:`commit` writes them in one transaction, all or none."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.changes: list[tuple[Any, ...]] = []
        self.recorded = Recorded("", "")

    def append(self, entity: str, value: dict[str, Any], record_id: str | None = None) -> str:
        validate(entity, value)
        if entity in ("part_usage", "stock_move"):
            whole_pieces(self.agent, value)
        record_id = record_id or new_record_id(self.agent.now_ms())
        self.changes.append((entity, record_id, APPEND, "", value))
        self.recorded.records.append({"entity": entity, "id": record_id, "value": value})
        return record_id

    def move(self, job_id: str, target: str) -> None:
        self.changes.append(("job", job_id, MOVE, "status", target))
        self.recorded.changes.append({"entity": "job", "id": job_id, "field": "status", "to": target})

    def set(self, entity: str, eid: str, name: str, value: Any) -> None:
        self.changes.append((entity, eid, SET, name, value))
        self.recorded.changes.append({"entity": entity, "id": eid, "field": name, "to": value})

    def incr(self, entity: str, eid: str, name: str, delta: Decimal) -> None:
        self.changes.append((entity, eid, INCR, name, to_json_number(delta)))
        self.recorded.changes.append({"entity": entity, "id": eid, "field": name, "delta": str(delta)})

    def void(self, entity: str, eid: str, target: OpId, reason: str) -> None:
        self.changes.append((entity, eid, VOID, "", reason, [target]))
        self.recorded.changes.append({"entity": entity, "id": eid, "voided": str(target), "reason": reason})

    def warn(self, text: str) -> None:
        self.recorded.warnings.append(text)

    def commit(self, command: str, description: str, job_id: str | None = None) -> Recorded:
        ops = self.agent.write(self.changes)
        recorded = self.recorded
        recorded.command, recorded.description, recorded.job_id, recorded.ops = command, description, job_id, len(ops)
        return recorded


# -- the van's stock -----------------------------------------------------------------------------------
def item_of(agent: Agent, sku: str) -> dict[str, Any]:
    """The catalogue entry of a SKU; NotRecorded (with close matches) if the catalogue lacks it."""
    item = agent.replica.entity("item", sku) if sku else {}
    if not item or item.get("_deleted"):
        close = difflib.get_close_matches(sku, agent.replica.entity_ids("item"), n=3)
        guess = f" (did you mean {', '.join(close)}?)" if close else ""
        raise NotRecorded("sku", f"no part {sku!r} in the catalogue on this device{guess}",
                          hint="check the SKU; 'fieldsync-agent sync' refreshes the catalogue")
    return item


def quantity(value: Any, name: str = "qty", *, allow_zero: bool = False) -> Decimal:
    """Parse a quantity such as 2 or "1.5" (at most 6 decimals); NotRecorded names ``name``."""
    try:
        number = to_decimal(value if isinstance(value, int) and not isinstance(value, bool) else str(value).strip())
    except ValueError:
        raise NotRecorded(name, f"{value!r} is not a quantity: give a number such as 2 or 1.5 "
                                "(at most 6 decimals)") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise NotRecorded(name, f"must be {'zero or more' if allow_zero else 'more than zero'}, got {value}")
    return number


def own_van(agent: Agent) -> str | None:
    """The van whose stock this device spends: the terminal's van, or the technician's van."""
    if agent.config.van_id:
        return agent.config.van_id
    technician = agent.config.technician_id
    return agent.replica.entity("technician", technician).get("van_id") if technician else None


def on_hand(agent: Agent, van: str, sku: str) -> Decimal:
    """The van's quantity of a SKU as this device sees it (its own unsynced moves included)."""
    return Decimal(str(agent.replica.entity("stock", f"{van}:{sku}").get("on_hand") or 0))


def move_stock(batch: Batch, van: str, sku: str, delta: Decimal, reason: str, *, move_id: str | None = None,
               job_id: str | None = None, kit_id: str | None = None, note: str = "",
               **extra: Any) -> tuple[Decimal, Decimal]:
    """Author one movement at ``van``: a stock_move record and the on_hand delta, together.
    ``extra`` are the record's optional fields (a hand-out's technician_id, a count's counted).
    Returns on_hand (before, after) as this device sees it; warns when ``after`` is below zero."""
    agent = batch.agent
    before = on_hand(agent, van, sku)
    stock_id = f"{van}:{sku}"
    batch.append("stock_move", {"location_id": van, "sku": sku, "qty": str(delta), "reason": reason,
                                "job_id": job_id, "kit_id": kit_id, "note": note,
                                "device_time": agent.device_time(), **extra}, move_id)
    # A SKU new to this van is not named here (location_id, sku): the hub's inventory engine names
    # every row, alone, so that two devices creating one row offline never leave a conflict of
    # two equal names. Until then the row is this device's; the van's other device receives it
    # once it is named (the hub links rows to a van's scope by location_id).
    if delta:
        batch.incr("stock", stock_id, "on_hand", delta)
    after = before + delta
    if delta < 0 and after < 0:
        batch.warn(f"{van} held {before} {sku}; it now shows {after}. Recorded anyway — the hub raises a "
                   "stock exception; count the van ('fieldsync-agent van count') if the figure is wrong")
    return before, after


VOIDABLE = ("check_event", "time_log", "part_usage", "checklist_step", "attachment", "signature",
            "ticket_comment", "stock_move")


def void(agent: Agent, entity: str, record_id: str, reason: str) -> Recorded:
    """Cancel a record this device created (records are never edited). Voiding a part used from
    the van, or a stock movement, also puts its quantity back on the van's on_hand."""
    if entity not in VOIDABLE:
        raise NotRecorded("entity", f"{entity!r} cannot be voided; one of {', '.join(VOIDABLE)}")
    if not reason or not reason.strip() or len(reason) > 500:
        raise NotRecorded("reason", "say why the record is wrong (1 to 500 characters)")
    record = agent.replica.entity(entity, record_id)
    if not record:
        raise NotRecorded("record_id", f"no {entity} {record_id} on this device",
                          hint="'fieldsync-agent --json show JOB' lists each record with its id")
    author, _, counter = record["by"].rpartition(":")
    if author != agent.config.node:
        raise NotRecorded("record_id", f"{entity} {record_id} was recorded by {author}, not this device",
                          hint="only its author can void it; ask the office to correct it")
    if record["voided"]:
        raise NotRecorded("record_id", f"{entity} {record_id} is already voided")
    if entity == "stock_move":
        usage = agent.replica.entity("part_usage", record_id)
        if usage and not usage["voided"]:
            # The movement of a part used on a job: voided alone, the stock would come back while
            # the job still shows, and bills, the part.
            raise NotRecorded("record_id", f"stock_move {record_id} is the van side of the part used on "
                              f"{usage['value'].get('job_id')}", hint=f"void the use instead: "
                              f"'fieldsync-agent void part_usage {record_id} --reason ...' voids both")
    batch = Batch(agent)
    batch.void(entity, record_id, OpId(author, int(counter)), reason)
    text = f"voided {entity} {record_id} ({reason})"
    # A part used from the van moved stock under the same id: cancel that movement with it, and
    # put the quantity back on the van, so on_hand keeps equalling the live ledger.
    move = record if entity == "stock_move" else agent.replica.entity("stock_move", record_id)
    if entity in ("part_usage", "stock_move") and move and not move["voided"]:
        mover, _, move_counter = move["by"].rpartition(":")
        if mover == agent.config.node:
            if entity == "part_usage":
                batch.void("stock_move", record_id, OpId(mover, int(move_counter)), reason)
            value = move["value"]
            delta = -Decimal(str(value["qty"]))
            if delta:
                batch.incr("stock", f"{value['location_id']}:{value['sku']}", "on_hand", delta)
                text += f"; {value['location_id']} {value['sku']} on hand {delta:+}"
    return batch.commit("void", text, record["value"].get("job_id"))


def _terminal(agent: Agent) -> str:
    if agent.config.kind != "van" or not agent.config.van_id:
        raise NotRecorded("device", "van stock is received, counted and handed out on the van's terminal",
                          hint="on a tablet, record parts with 'fieldsync-agent use-part JOB SKU QTY'")
    return agent.config.van_id


def stock(agent: Agent, van: str | None = None) -> list[dict[str, Any]]:
    """On-hand per SKU of the van (this device's van by default), from the local replica."""
    van = van or own_van(agent)
    if not van:
        raise NotRecorded("van", "no van is recorded for this device", hint="give --van VAN")
    rows = []
    for stock_id in agent.replica.entity_ids("stock"):
        location, _, sku = stock_id.partition(":")
        if location != van:
            continue
        item = agent.replica.entity("item", sku)
        rows.append({"van": van, "sku": sku, "name": item.get("name"), "unit": item.get("unit", "ea"),
                     "on_hand": str(on_hand(agent, van, sku))})
    return rows


def parse_lines(texts: Iterable[str]) -> list[tuple[str, Decimal]]:
    """``["CAP-45=5", "FLT-1=2"]`` -> [(sku, qty)]; NotRecorded names the bad line."""
    lines: dict[str, Decimal] = {}
    for text in texts:
        sku, sign, qty = text.partition("=")
        if not sign or not sku.strip():
            raise NotRecorded("lines", f"{text!r} is not SKU=QTY", hint="e.g. CAP-45=5 FLT-1=2")
        if sku.strip() in lines:
            raise NotRecorded("lines", f"{sku.strip()} is given twice; give each SKU once with its total")
        lines[sku.strip()] = quantity(qty, f"qty of {sku.strip()}")
    if not lines:
        raise NotRecorded("lines", "give at least one SKU=QTY")
    return list(lines.items())


def receive_kit(agent: Agent, lines: Iterable[tuple[str, Any]], kit_id: str | None = None) -> Recorded:
    """Parts arrive in the van (a kit from the warehouse): per SKU a 'kit_in' move and +qty on hand."""
    van = _terminal(agent)
    if kit_id is not None and not 1 <= len(kit_id) <= 128:
        raise NotRecorded("kit", "a kit id has 1 to 128 characters")
    batch = Batch(agent)
    lines = list(lines)
    kit = agent.replica.entity("parts_kit", kit_id) if kit_id else {}
    if kit:
        # A kit the hub sent: its lines are what arrives unless the terminal says otherwise, and
        # receiving it closes it at the hub.
        if kit.get("to_location_id") != van:
            raise NotRecorded("kit", f"kit {kit_id} is for {kit.get('to_location_id')}, not this van ({van})")
        if kit.get("status") in ("received", "cancelled"):
            raise NotRecorded("kit", f"kit {kit_id} is already {kit['status']}")
        lines = lines or [(line["sku"], line["qty"]) for line in kit.get("lines", [])]
        batch.changes.append(("parts_kit", kit_id, MOVE, "status", "received"))
        batch.recorded.changes.append({"entity": "parts_kit", "id": kit_id, "field": "status", "to": "received"})
    if not lines:
        raise NotRecorded("lines", "name the parts received as SKU=QTY, or a kit this van knows with --kit")
    parts = []
    for sku, qty in lines:
        item_of(agent, sku)
        amount = quantity(qty, f"qty of {sku}")
        before, after = move_stock(batch, van, sku, amount, "kit_in", kit_id=kit_id)
        parts.append(f"{sku} +{amount} ({before} -> {after})")
    source = f" from kit {kit_id}" if kit_id else ""
    return batch.commit("van receive-kit", f"received into {van}{source}: {', '.join(parts)}")


def count(agent: Agent, sku: str, counted: Any) -> Recorded:
    """A physical count: on_hand moves by (counted - what this device thinks is there), with a
    'count' move that also holds the figure counted — recorded even when nothing differs, as
    proof the shelf was counted. Parts a tablet used before the count but synced after it are in
    the count already: the hub replays the count where it was taken and corrects the adjustment."""
    van = _terminal(agent)
    item_of(agent, sku)
    amount = quantity(counted, "qty", allow_zero=True)
    batch = Batch(agent)
    before, after = move_stock(batch, van, sku, amount - on_hand(agent, van, sku), "count", note=f"counted {amount}",
                               counted=str(amount))
    difference = after - before
    return batch.commit("van count", f"counted {amount} {sku} in {van}: was {before}, "
                        f"{'no difference' if not difference else f'adjusted by {difference}'}")


def hand_out(agent: Agent, sku: str, qty: Any, technician_id: str, job_id: str | None = None) -> Recorded:
    """Parts leave the van with a technician: a 'usage' move of -qty and on_hand down by qty.
    Below zero it warns and records anyway."""
    van = _terminal(agent)
    item_of(agent, sku)
    amount = quantity(qty)
    if not technician_id:
        raise NotRecorded("technician", "say who takes the parts (--technician ID)")
    batch = Batch(agent)
    if not agent.replica.entity("technician", technician_id):
        batch.warn(f"{technician_id} is not one of {van}'s technicians on this terminal")
    if job_id and not agent.replica.entity("job", job_id):
        batch.warn(f"job {job_id} is not on this terminal")
    before, after = move_stock(batch, van, sku, -amount, "usage", job_id=job_id,
                               note=f"handed out to {technician_id}", technician_id=technician_id)
    for_job = f" for {job_id}" if job_id else ""
    return batch.commit("van hand-out", f"handed out {amount} x {sku} from {van} to {technician_id}{for_job}; "
                        f"{before} -> {after}", job_id)
