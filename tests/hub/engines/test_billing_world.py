"""A small world for the billing tests — contracts of each type, tickets with a job, and a
technician's tablet whose offline work arrives as device ops — plus the money, period and registry
rules the billing models stand on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hub.billing import models
from hub.billing.money import money, priced, qty_text, round_up_minutes, unit_price
from hub.billing.periods import contract_periods, label
from hub.engines.billing import ENGINE
from sync import hlc
from sync.ops import APPEND, MOVE, SET, VOID, Op, OpId

CAPACITOR = ("CAP-45", "Capacitor 45uF", "4.10", "12.50")  # sku, name, unit cost, unit price


def contract(store, cid, kind, *, rates=None, billing=None, status="active", starts_at=None, currency="GBP",
             customer="cust-1"):
    """A contract of ``kind`` for Harbour Hotel (a hub write), active unless told otherwise."""
    store.write([
        ("customer", customer, SET, "name", "Harbour Hotel"),
        ("contract", cid, SET, "customer_id", customer),
        ("contract", cid, SET, "title", f"{kind} contract"),
        ("contract", cid, SET, "type", kind),
        ("contract", cid, SET, "currency", currency),
        *([("contract", cid, SET, "rates", rates)] if rates is not None else []),
        *([("contract", cid, SET, "billing", billing)] if billing is not None else []),
        *([("contract", cid, SET, "starts_at", starts_at)] if starts_at else []),
        *([("contract", cid, MOVE, "status", status)] if status != "draft" else []),
    ])


def ticket(store, tid, cid, *, job=None, service_type="repair", customer="cust-1"):
    """A ticket under contract ``cid`` with a work order and one job (``job`` defaults to j-<tid>)."""
    job = job or f"j-{tid}"
    store.write([
        ("ticket", tid, SET, "customer_id", customer),
        ("ticket", tid, SET, "contract_id", cid),
        ("ticket", tid, SET, "title", "AC not cooling"),
        ("ticket", tid, SET, "opened_at", "2026-11-02T08:00:00+00:00"),
        ("work_order", f"wo-{tid}", SET, "ticket_id", tid),
        ("work_order", f"wo-{tid}", SET, "scope", "Repair the AC"),
        ("work_order", f"wo-{tid}", SET, "service_type", service_type),
        ("job", job, SET, "work_order_id", f"wo-{tid}"),
        ("job", job, SET, "ticket_id", tid),
        ("job", job, SET, "technician_id", "tech-1"),
    ])
    return job


def item(store, sku=CAPACITOR[0], name=CAPACITOR[1], cost=CAPACITOR[2], price=CAPACITOR[3]):
    store.write([("item", sku, SET, "name", name), ("item", sku, SET, "unit_cost", cost),
                 ("item", sku, SET, "unit_price", price)])


def resolve(store, tid):
    store.write([("ticket", tid, MOVE, "status", "resolved")])


class Tablet:
    """A technician's tablet working offline: each call makes one device op (not yet synced)."""

    def __init__(self, node="tablet-ana", start_ms=1_795_770_000_000 - 3_600_000):
        # Device clocks a little behind the hub's, so no op is refused as being from the future.
        self.node, self.counter, self.ms = node, 0, start_ms
        self.appended: dict[str, OpId] = {}
        self.voids: dict[str, OpId] = {}

    @classmethod
    def behind(cls, store, node="tablet-ana"):
        """A tablet whose clock is an hour behind the hub's (whatever time the test froze)."""
        return cls(node, store.now_ms() - 3_600_000)

    def _op(self, entity, eid, action, field="", value=None, refs=()):
        self.counter += 1
        self.ms += 1000
        return Op(self.node, self.counter, hlc.pack(self.ms), entity, eid, action, field, value, tuple(refs))

    def time(self, eid, job, started, ended, *, category="labour", billable=True):
        op = self._op("time_log", eid, APPEND, value={
            "job_id": job, "technician_id": "tech-1", "started_at": started, "ended_at": ended,
            "category": category, "billable": billable})
        self.appended[eid] = op.id
        return op

    def part(self, eid, job, qty, sku=CAPACITOR[0]):
        op = self._op("part_usage", eid, APPEND, value={
            "job_id": job, "sku": sku, "qty": str(qty), "location_id": "van-7", "device_time": "2026-11-27T10:00:00Z"})
        self.appended[eid] = op.id
        return op

    def void(self, entity, eid):
        op = self._op(entity, eid, VOID, value="entered by mistake", refs=[self.appended[eid]])
        self.voids[eid] = op.id
        return op

    def unvoid(self, entity, eid):
        """Void the void: the record stands again."""
        return self._op(entity, eid, VOID, value="the record was right", refs=[self.voids[eid]])

    def move(self, job, status):
        return self._op("job", job, MOVE, "status", status)

    def visit(self, job):
        """The job worked: on the way, on site, completed."""
        return [self.move(job, "en_route"), self.move(job, "on_site"), self.move(job, "completed")]


def sync(store, ops):
    """The tablet's ops reach the hub (in the order given, as one batch)."""
    with store.unit_of_work():
        result = store.replica.ingest(list(ops), store.now_ms())
    assert not result.rejected, result.rejected
    return result


def run(store, now_ms=None):
    return ENGINE.run(store, store.now_ms() if now_ms is None else now_ms)


def invoices(store, **wanted):
    from hub.billing.snapshot import invoices as all_invoices
    return [inv for inv in all_invoices(store) if all(inv.get(k) == v for k, v in wanted.items())]


def net_by_source(store):
    """Per source: (net qty, net amount) over every invoice that is not void (credit notes negative)."""
    found: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for inv in invoices(store):
        if inv["status"] == "void":
            continue
        for line in inv["lines"]:
            key = (line["source_entity"], line["source_id"])
            qty, amount = found.get(key, (Decimal(0), Decimal(0)))
            found[key] = (qty + Decimal(line["qty"]), amount + Decimal(line["amount"]))
    return {key: value for key, value in found.items() if value != (0, 0)}


# -- the rules the models stand on ---------------------------------------------------------------

def test_every_contract_type_has_a_billing_model_registered_by_its_module():
    assert sorted(models()) == ["fixed_fee", "milestone", "retainer", "time_material", "warranty"]


def test_each_time_log_is_rounded_up_to_the_minimum_increment():
    assert round_up_minutes(Decimal(70 * 60), 30) == 90  # 1h10m -> 1.5 h
    assert round_up_minutes(Decimal(30 * 60), 30) == 30  # exactly one increment stays one
    assert round_up_minutes(Decimal(30 * 60 + 1), 30) == 60  # one second over is the next increment
    assert round_up_minutes(Decimal(1), 15) == 15


def test_money_rounds_half_up_to_the_currency_minor_unit():
    assert str(money(Decimal("2.345"), "GBP")) == "2.35"
    assert str(money(Decimal("-2.345"), "GBP")) == "-2.35"
    assert str(money(Decimal("1234.5"), "JPY")) == "1235"
    assert str(money(Decimal("1.2345"), "KWD")) == "1.235"
    assert str(money(Decimal("-0.001"), "GBP")) == "0.00"  # never a negative zero
    assert qty_text(Decimal(100)) == "100" and qty_text(Decimal(1) / 3) == "0.3333"


def test_a_line_is_charged_with_the_quantity_and_unit_price_it_shows():
    assert priced(Decimal(1000), Decimal("0.0125"), "GBP") == (Decimal(1000), Decimal("0.0125"), Decimal("12.50"))
    assert priced(Decimal(10), Decimal("87.333"), "GBP") == (Decimal(10), Decimal("87.333"), Decimal("873.33"))
    assert priced(Decimal(1) / 3, Decimal(300), "GBP") == (Decimal("0.3333"), Decimal("300.00"), Decimal("99.99"))
    assert str(unit_price(Decimal("4.10") * Decimal("1.175"), "GBP")) == "4.8175"  # cost-plus keeps its places
    assert str(unit_price(Decimal("1") / 3, "GBP")) == "0.333333"  # a computed price: 6 places at most
    assert str(unit_price(Decimal("12.5"), "GBP")) == "12.50" and str(unit_price(Decimal("8500"), "JPY")) == "8500"


def test_periods_are_calendar_months_or_quarters_billed_once_ended():
    now = datetime(2026, 12, 15, tzinfo=UTC)
    months = contract_periods({"starts_at": "2026-10-20T00:00:00+00:00", "status": "active"}, "monthly", now)
    assert [(s.date().isoformat(), due) for s, _, due in months] == [
        ("2026-10-01", True), ("2026-11-01", True), ("2026-12-01", False)]
    quarters = contract_periods({"starts_at": "2026-02-01T00:00:00+00:00", "ends_at": "2026-07-01T00:00:00+00:00",
                                 "status": "expired"}, "quarterly", now)
    assert [label(s, "quarterly") for s, _, _ in quarters] == ["Q1 2026", "Q2 2026"]
    assert contract_periods({"starts_at": "2026-10-01T00:00:00+00:00", "status": "cancelled"}, "monthly", now)[0][2] \
        is False
