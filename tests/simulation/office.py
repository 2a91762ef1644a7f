"""The office's side of the simulation: it sets the business up and then acts at random through the
office API — tickets, work orders and jobs, reassignments, crews, ticket moves, invoices, kits,
receipts, comments, engine runs. The office sits beside the hub (no network faults), but the hub
may die under it; an action cut short by a crash was never acknowledged and is simply gone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hub import auth

from .world import HubCrash, SimHub

SKUS = ("CAP-45", "FAN-12", "FLT-3")
FINAL_JOB = ("completed", "cancelled")


@dataclass
class Business:
    """The ids the office made (acknowledged by the hub), by kind."""

    warehouse: str = ""
    vans: list[str] = field(default_factory=list)
    technicians: list[str] = field(default_factory=list)  # every technician, with a tablet or not
    customers: list[dict[str, str]] = field(default_factory=list)  # {id, contract, site, asset}
    tickets: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    kits: list[str] = field(default_factory=list)
    created: list[tuple[str, str]] = field(default_factory=list)  # (entity, id) acknowledged with 201


class Office:
    """A dispatcher, a service manager and a billing clerk behind one token with every permission."""

    def __init__(self, hub: SimHub, rng: random.Random) -> None:
        self.hub = hub
        self.rng = rng
        self.token = auth.create_user(hub.store, "office", auth.PERMISSIONS)
        self.business = Business()
        self.lost_to_crash = 0
        self.refused = 0  # 4xx: the office asked for something the state did not allow

    # -- the wire ----------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One office request; (status, JSON). (0, None) when the hub died under it."""
        try:
            response = self.hub.client.open(path, method=method, json=body,
                                            headers={"Authorization": f"Bearer {self.token}"})
        except HubCrash:
            self.hub.crashed()
            self.lost_to_crash += 1
            return 0, None
        if 400 <= response.status_code < 500:
            self.refused += 1
        return response.status_code, response.get_json(silent=True)

    def create(self, path: str, entity: str, body: dict[str, Any]) -> str | None:
        status, reply = self.call("POST", f"/api/v1/{path}", body)
        if status != 201:
            return None
        eid = reply["data"]["id"]
        self.business.created.append((entity, eid))
        return eid

    def data(self, path: str) -> Any:
        status, reply = self.call("GET", path)
        return reply["data"] if status == 200 else None

    # -- the morning ---------------------------------------------------------------------------------
    def set_up(self, technicians: int, vans: int) -> Business:
        """Locations, technicians (one more than have tablets: jobs can leave every device), the
        catalogue, stock in the warehouse and a kit to each van, two customers on time-and-material
        contracts (one needs invoices approved), and a first job per technician."""
        b = self.business
        b.warehouse = self._must("stock_locations", "stock_location", {"kind": "warehouse", "name": "Central"})
        b.vans = [self._must("stock_locations", "stock_location", {"kind": "van", "name": f"Van {i + 1}"})
                  for i in range(vans)]
        b.technicians = [self._must("technicians", "technician", {"name": f"Technician {i + 1}",
                                                                    "van_id": b.vans[i % vans], "skills": ["hvac"]})
                         for i in range(technicians + 1)]
        for index, sku in enumerate(SKUS):
            self._must("items", "item", {"sku": sku, "name": f"Part {sku}", "unit_cost": f"{4 + index}.10",
                                         "unit_price": f"{12 + 10 * index}.50"})
        self.call("POST", "/api/v1/stock/receipts", {"location_id": b.warehouse,
                                                      "lines": [{"sku": sku, "qty": "60"} for sku in SKUS]})
        for van in b.vans:
            self.send_kit(van)
        for index in range(2):
            customer = self._must("customers", "customer", {"name": f"Customer {index + 1}"})
            billing = {"payment_days": 30, "min_increment_min": 30}
            if index == 1:
                billing["approval_threshold"] = "150.00"
            contract = self._must("contracts", "contract", {
                "customer_id": customer, "title": f"T&M {index + 1}", "type": "time_material",
                "rates": {"labour_rate": "85.00", "callout_fee": "45.00"}, "billing": billing})
            self.call("POST", f"/api/v1/contracts/{contract}/status", {"status": "active"})
            site = self._must("sites", "site", {"customer_id": customer, "name": "Plant room",
                                                "address": f"{index + 1} Quay Street"})
            asset = self._must("assets", "asset", {"customer_id": customer, "site_id": site,
                                                   "product": "Rooftop AC unit", "serial": f"AC-{index}"})
            b.customers.append({"id": customer, "contract": contract, "site": site, "asset": asset})
        for technician in b.technicians[:-1]:
            self.new_job(technician)
        return b

    def _must(self, path: str, entity: str, body: dict[str, Any]) -> str:
        eid = self.create(path, entity, body)
        assert eid is not None, f"setting up the business: POST {path} {body} failed"
        return eid

    # -- the day -----------------------------------------------------------------------------------------
    def act(self) -> str:
        """One office action chosen at random; returns its name."""
        actions = (
            (self.new_job, 6), (self.reassign, 3), (self.crew, 2), (self.move_ticket, 6), (self.bill, 8),
            (self.send_kit, 2), (self.receive_stock, 1), (self.comment, 2), (self.cancel_job, 1),
            (self.unassign, 1),
        )
        action = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
        action()
        return action.__name__

    def run_engines(self) -> None:
        self.call("POST", "/api/v1/engines/run", {})

    def new_job(self, technician: str | None = None) -> None:
        b = self.business
        customer = self.rng.choice(b.customers)
        ticket = self.create("tickets", "ticket", {
            "customer_id": customer["id"], "site_id": customer["site"], "asset_id": customer["asset"],
            "contract_id": customer["contract"], "title": f"Call {len(b.tickets) + 1}",
            "priority": self.rng.choice(("Low", "Medium", "High", "Critical"))})
        if ticket is None:
            return
        b.tickets.append(ticket)
        steps = [{"step_id": f"s{i}", "text": f"Step {i}", "required": i < 2} for i in range(self.rng.randint(1, 3))]
        order = self.create("work_orders", "work_order", {
            "ticket_id": ticket, "scope": "Repair", "checklist": steps, "estimated_minutes": 60,
            "parts_estimate": [{"sku": self.rng.choice(SKUS), "qty": "1"}] if self.rng.random() < 0.5 else []})
        if order is None:
            return
        body: dict[str, Any] = {"work_order_id": order,
                                "technician_id": technician or self.rng.choice(b.technicians)}
        if self.rng.random() < 0.25:
            body["crew_ids"] = [self.rng.choice(b.technicians)]
        job = self.create("jobs", "job", body)
        if job is not None:
            b.jobs.append(job)

    def _open_job(self) -> str | None:
        jobs = self.business.jobs
        return self.rng.choice(jobs) if jobs else None

    def reassign(self) -> None:
        job = self._open_job()
        if job:
            self.call("POST", f"/api/v1/jobs/{job}/assign",
                      {"technician_id": self.rng.choice(self.business.technicians)})

    def unassign(self) -> None:
        job = self._open_job()
        if job:
            self.call("POST", f"/api/v1/jobs/{job}/unassign")

    def crew(self) -> None:
        job = self._open_job()
        if job:
            crew = self.rng.sample(self.business.technicians, self.rng.randint(0, 2))
            self.call("PATCH", f"/api/v1/jobs/{job}", {"crew_ids": crew})

    def cancel_job(self) -> None:
        job = self._open_job()
        if job:
            self.call("POST", f"/api/v1/jobs/{job}/status", {"status": "cancelled"})

    def move_ticket(self) -> None:
        """Resolve a ticket (what makes time-and-material work billable), or close or reopen a
        resolved one (reopened, its later work goes on a supplementary invoice)."""
        tickets = self.business.tickets
        if not tickets:
            return
        # Mostly a ticket whose job the technician completed, as an office would.
        jobs = self.data("/api/v1/jobs?limit=200") or []
        done = sorted({job["ticket_id"] for job in jobs if job["status"] == "completed"})
        ticket = self.rng.choice(done if done and self.rng.random() < 0.75 else tickets)
        found = self.data(f"/api/v1/tickets/{ticket}")
        if not found:
            return
        to_resolved = {"open": ["resolved"], "assigned": ["in_progress", "resolved"], "in_progress": ["resolved"]}
        if found["status"] == "resolved":
            path = [self.rng.choice(("closed", "in_progress"))]
        else:
            path = to_resolved.get(found["status"], [])
        for target in path:
            status, _ = self.call("POST", f"/api/v1/tickets/{ticket}/status", {"status": target})
            if status != 200:
                return

    def bill(self) -> None:
        """Send a draft (approving it first when needed), mark a sent one paid, or void a draft."""
        invoices = self.data("/api/v1/invoices?limit=200") or []
        drafts = [i for i in invoices if i["status"] in ("draft", "approved")]
        sent = [i for i in invoices if i["status"] == "sent"]
        roll = self.rng.random()
        if drafts and roll < 0.7:
            invoice = self.rng.choice(drafts)
            if invoice["approval_required"] and invoice["status"] == "draft":
                self.call("POST", f"/api/v1/invoices/{invoice['id']}/approve")
            self.call("POST", f"/api/v1/invoices/{invoice['id']}/send")
        elif sent and roll < 0.85:
            self.call("POST", f"/api/v1/invoices/{self.rng.choice(sent)['id']}/paid")
        elif drafts:
            self.call("POST", f"/api/v1/invoices/{self.rng.choice(drafts)['id']}/void")

    def send_kit(self, van: str | None = None) -> None:
        b = self.business
        lines = [{"sku": sku, "qty": str(self.rng.randint(1, 4))} for sku in self.rng.sample(SKUS, 2)]
        kit = self.create("stock/kits", "parts_kit", {"from_location_id": b.warehouse,
                                                      "to_location_id": van or self.rng.choice(b.vans),
                                                      "lines": lines})
        if kit:
            b.kits.append(kit)

    def receive_stock(self) -> None:
        self.call("POST", "/api/v1/stock/receipts", {
            "location_id": self.business.warehouse, "lines": [{"sku": self.rng.choice(SKUS), "qty": "10"}]})

    def comment(self) -> None:
        tickets = self.business.tickets
        if tickets:
            self.call("POST", f"/api/v1/tickets/{self.rng.choice(tickets)}/comments",
                      {"visibility": self.rng.choice(("internal", "customer")), "body": "Called the customer"})
