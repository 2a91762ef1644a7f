"""The world the contract scenarios run in.

A hub on a real SQLite file whose clock the test sets; the office working through the HTTP API
with a token holding every office permission; technicians' tablets and a van's terminal as real
agents (``device_agent``) that record offline through the visit and van libraries and sync with
the hub in process (``InProcessTransport``: the hub's own Flask app, no sockets). One frozen wall
clock (freezegun) moves the hub and every device together, so "offline at 10:05, synced at 16:00"
is exactly that. The engines run through ``POST /api/v1/engines/run``, at the hub's time.

``field_team`` is the service business every scenario shares: a warehouse stocked by a receipt,
a van, technicians and a team lead, and the parts catalogue (cost / list price):

=======  ======================  ========  ==========
SKU      part                    cost £    price £
=======  ======================  ========  ==========
CAP-45   Capacitor 45uF            4.10      12.50
FAN-12   Condenser fan motor      38.00      64.00
FLT-20   Air filter                3.20       9.00
CMP-3    Scroll compressor       310.00     520.00
=======  ======================  ========  ==========
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from device_agent import Agent, visit
from device_agent.transport import InProcessTransport
from device_agent.visit import Fix
from hub import auth
from hub.app import create_app, store_of

API = "/api/v1"
SITE_FIX = Fix(51.4545, -2.5879, 8)  # a good GPS fix at the customer's plant room
CATALOGUE = (  # sku, name, unit cost, list price
    ("CAP-45", "Capacitor 45uF", "4.10", "12.50"),
    ("FAN-12", "Condenser fan motor", "38.00", "64.00"),
    ("FLT-20", "Air filter", "3.20", "9.00"),
    ("CMP-3", "Scroll compressor", "310.00", "520.00"),
)
OPENING_STOCK = {"CAP-45": "10", "FAN-12": "4", "FLT-20": "20", "CMP-3": "2"}  # received into the warehouse


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


class Clock:
    """The hub's clock: what ``World.at`` last said."""

    ms = ms("2026-10-01T07:00:00Z")

    def __call__(self) -> int:
        return self.ms


class World:
    """A hub, its office, and the devices working beside it, all on one clock."""

    def __init__(self, app, clock: Clock, frozen, tmp_path: Path) -> None:
        self.app, self.clock, self.frozen, self.tmp_path = app, clock, frozen, tmp_path
        self.store = store_of(app)
        self.client = app.test_client()
        self.office = {"Authorization": f"Bearer {auth.create_user(self.store, 'office', auth.PERMISSIONS)}"}
        self.agents: list[Agent] = []

    # -- time -------------------------------------------------------------------------------------
    def at(self, when: str) -> None:
        """It is now ``when`` (ISO, UTC) for the hub and for every device's wall clock."""
        self.frozen.move_to(when)
        self.clock.ms = ms(when)

    # -- the office API -----------------------------------------------------------------------------
    def post(self, path: str, body: dict | None = None, status: int = 201) -> Any:
        reply = self.client.post(API + path, json=body if body is not None else {}, headers=self.office)
        assert reply.status_code == status, (path, reply.json)
        return reply.json["data"]

    def get(self, path: str, **params: Any) -> Any:
        reply = self.client.get(API + path, query_string=params, headers=self.office)
        assert reply.status_code == 200, (path, reply.json)
        return reply.json["data"]

    def move(self, path: str, status: str) -> dict[str, Any]:
        """``POST <path>/status``: move a record (ticket, contract...) to another status."""
        return self.post(f"{path}/status", {"status": status}, status=200)

    def run_engines(self) -> dict[str, int]:
        """One round of every engine, at the hub's time, as the office triggers it."""
        reply = self.client.post(API + "/engines/run", headers=self.office)
        assert reply.status_code == 200, reply.json
        return reply.json["data"]["written"]

    def settled(self) -> None:
        """Run the engines, then again: the second round must write nothing (idempotence)."""
        self.run_engines()
        assert self.run_engines() == {"sla": 0, "inventory": 0, "billing": 0, "feedback": 0}

    # -- reading the results ------------------------------------------------------------------------
    def sla(self, ticket_id: str) -> dict[str, Any]:
        """The SLA picture the engine wrote on the ticket (what tablets and dispatchers see)."""
        return self.get(f"/tickets/{ticket_id}")["sla"]

    def clock_state(self, ticket_id: str, clock: str) -> tuple[str, float, str | None, str | None]:
        """(state, elapsed working minutes, stopped_at, stopped_by) of one SLA clock."""
        found = self.sla(ticket_id)[clock]
        return found["state"], found["elapsed_min"], found["stopped_at"], found["stopped_by"]

    def stock(self, location_id: str) -> dict[str, tuple[str, str]]:
        """{sku: (on hand, reserved)} at one location."""
        return {row["sku"]: (row["on_hand"], row["reserved"]) for row in self.get("/stock", location_id=location_id)}

    def exceptions(self) -> list[tuple[str, str, str, str]]:
        """Live stock exceptions as (reason, location, sku, qty), sorted."""
        return sorted((e["reason"], e["location_id"], e["sku"], e["qty"]) for e in self.get("/stock/exceptions"))

    def purchase_requests(self) -> list[tuple[str, str, str, str]]:
        """Purchase requests not withdrawn as (location, sku, qty, status), sorted."""
        return sorted((r["location_id"], r["sku"], r["qty"], r["status"]) for r in self.get("/purchase_requests"))

    def escalations(self, ticket_id: str) -> list[tuple[str, str, str | None, float, str, str | None]]:
        """The ticket's escalations as (clock, level, who was notified, elapsed working min, when
        reached, priority raised to), in the order they were reached."""
        found = self.get("/sla/escalations", ticket_id=ticket_id)
        return [(e["clock"], e["level"], e["notify_id"] or e["notify_role"], e["elapsed_min"], e["at"],
                 e.get("priority_to")) for e in sorted(found, key=lambda e: (e["at"], e["clock"]))]

    def invoices(self, **filters: Any) -> list[dict[str, Any]]:
        """Invoices that are not void, oldest first (ids are time-ordered)."""
        return [inv for inv in self.get("/invoices", **filters) if inv["status"] != "void"]

    def send(self, invoice_id: str) -> dict[str, Any]:
        """The billing team sends an invoice: it gets its number and due date and never changes."""
        return self.post(f"/invoices/{invoice_id}/send", status=200)


    # -- devices ---------------------------------------------------------------------------------------
    def device(self, kind: str, subject: str, name: str, *, skew_ms: int = 0) -> Agent:
        """Enrol a tablet (``technician``) or a van terminal (``van``) and sync it once, online.
        ``skew_ms``: how far the device's own clock is ahead of the true time."""
        code = auth.create_enrolment_code(self.store, kind, subject, name)
        agent = Agent.enrol(self.tmp_path / name.replace(" ", "-").replace("'", ""), "http://hub.in-process", code,
                            transport=InProcessTransport(self.app),
                            wall=lambda: int(time.time() * 1000) + skew_ms, sleep=lambda _: None)
        self.agents.append(agent)
        self.sync(agent)
        return agent

    def sync(self, agent: Agent):
        """The device finds a network: push, upload blobs, pull. Nothing may be refused."""
        summary = agent.sync()
        assert summary.rejected == [] and summary.blob_errors == [], summary
        return summary

    def file(self, name: str, content: bytes) -> Path:
        """A photo or a signature image as the tablet's camera or touchscreen saved it."""
        path = self.tmp_path / name
        path.write_bytes(content)
        return path


def lines(invoice: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """An invoice's lines as (description, qty, unit price, amount)."""
    return [(line["description"], line["qty"], line["unit_price"], line["amount"]) for line in invoice["lines"]]


def header(invoice: dict[str, Any]) -> tuple[str | None, str, str, str, str | None, str | None]:
    """(number, kind, status, total, issued_at, due_at) of an invoice."""
    return (invoice["number"], invoice["kind"], invoice["status"], invoice["total"], invoice["issued_at"],
            invoice["due_at"])


@dataclass(frozen=True)
class Team:
    """The ids of the shared master data."""

    warehouse: str
    van: str
    ana: str  # technician, drives the van
    ben: str  # technician, no van of his own (crews with Ana)
    lead: str  # team lead of both


def field_team(world: World) -> Team:
    """The warehouse (stocked with ``OPENING_STOCK``), Van 7, Ana, Ben and their team lead Lee,
    and the catalogue — all through the office API."""
    warehouse = world.post("/stock_locations", {"kind": "warehouse", "name": "Central stores"})["id"]
    van = world.post("/stock_locations", {"kind": "van", "name": "Van 7"})["id"]
    lead = world.post("/technicians", {"name": "Lee Lead", "skills": ["hvac"]})["id"]
    ana = world.post("/technicians", {"name": "Ana Silva", "skills": ["hvac", "refrigerant"], "van_id": van,
                                      "team_lead_id": lead})["id"]
    ben = world.post("/technicians", {"name": "Ben Okafor", "skills": ["hvac"], "team_lead_id": lead})["id"]
    for sku, name, cost, price in CATALOGUE:
        world.post("/items", {"sku": sku, "name": name, "unit_cost": cost, "unit_price": price})
    world.post("/stock/receipts", {"location_id": warehouse, "note": "opening stock",
                                   "lines": [{"sku": sku, "qty": qty} for sku, qty in OPENING_STOCK.items()]})
    return Team(warehouse, van, ana, ben, lead)


def customer(world: World, name: str, *, vip: bool = False) -> tuple[str, str, str]:
    """A customer with one site and one asset on it: (customer, site, asset) ids."""
    cid = world.post("/customers", {"name": name, "vip": vip, "email": "facilities@example.com"})["id"]
    site = world.post("/sites", {"customer_id": cid, "name": "Plant room", "address": "1 Quay Street, Bristol"})["id"]
    asset = world.post("/assets", {"customer_id": cid, "site_id": site, "product": "Rooftop AC unit",
                                   "serial": "AC-2231"})["id"]
    return cid, site, asset


def dispatch(world: World, team: Team, ticket: str, *, estimate: dict[str, str], crew: tuple[str, ...] = (),
             service_type: str = "repair") -> tuple[str, str, str]:
    """Convert the ticket into a work order with a parts estimate, dispatch a job to Ana (and
    ``crew``), and send her van a parts kit of the estimate from the warehouse:
    (work order, job, kit) ids."""
    lines = [{"sku": sku, "qty": qty} for sku, qty in estimate.items()]
    order = world.post("/work_orders", {"ticket_id": ticket, "service_type": service_type, "parts_estimate": lines,
                                        "required_skills": ["hvac"], "estimated_minutes": 120})["id"]
    job = world.post("/jobs", {"work_order_id": order, "technician_id": team.ana, "crew_ids": list(crew)})["id"]
    kit = world.post("/stock/kits", {"from_location_id": team.warehouse, "to_location_id": team.van, "job_id": job,
                                     "lines": lines})["id"]
    return order, job, kit


def work_offline(world: World, tablet: Agent, job: str, *, accept: str, depart: str, arrive: str,
                 logs: Sequence[tuple[str, str, str]], parts: Sequence[tuple[str, str, str | None]] = (),
                 signed: str, done: str, signer: str = "R. Moss") -> dict[str, str]:
    """The whole visit as a technician records it on the tablet with no network, each step at its
    time (ISO, UTC): accept, depart, check in on site, use ``parts`` (sku, qty, location — None
    for the van) on arrival, log each (start, end, description) as it ends, photograph the work,
    have the customer sign, complete. Returns the part uses' record ids by SKU."""
    world.at(accept)
    visit.accept(tablet, job)
    world.at(depart)
    visit.depart(tablet, job)
    world.at(arrive)
    visit.check_in(tablet, job, SITE_FIX)
    used = {sku: visit.use_part(tablet, job, sku, qty, location).records[0]["id"] for sku, qty, location in parts}
    for start, end, description in logs:
        world.at(end)
        visit.log_time(tablet, job, start=start, end=end, description=description)
    world.at(signed)
    visit.photo(tablet, job, world.file(f"after-{job}.jpg", f"photo of {job}".encode()), stage="after")
    visit.sign(tablet, job, world.file(f"signature-{job}.png", f"signed by {signer}".encode()), signer)
    world.at(done)
    visit.complete(tablet, job, "Work done, tested with the customer")
    return used


@pytest.fixture
def world(tmp_path):
    """A fresh hub and office; devices are enrolled by the scenario. Time starts 1 Oct 2026 07:00 UTC."""
    clock = Clock()
    with freeze_time("2026-10-01T07:00:00Z") as frozen:
        app = create_app({"database": tmp_path / "hub" / "hub.db", "clock": clock})
        found = World(app, clock, frozen, tmp_path)
        try:
            yield found
        finally:
            for agent in found.agents:
                agent.close()
            store_of(app).close()
