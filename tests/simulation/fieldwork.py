"""What technicians and van terminals do offline, through the agent's own command libraries.

Mostly the next sensible step of a visit for the job's state, sometimes any command at all (the
agent must refuse what does not fit, with nothing written). Parts are taken beyond what the van
holds, from the warehouse too; photos are small, or larger than one upload chunk; records are
voided. A refusal (:class:`NotRecorded`) is an outcome, not a failure.
"""

from __future__ import annotations

import random
from typing import Any

from device_agent import van, views, visit
from device_agent.agent import BLOB_CHUNK
from device_agent.van import NotRecorded
from sync.errors import SyncError

from .office import SKUS
from .world import SimDevice

NEXT = {
    "scheduled": ("accept", "accept", "depart", "check_in"),
    "accepted": ("depart", "check_in"),
    "en_route": ("check_in",),
    "on_site": ("step", "step", "log_time", "log_time", "log_time", "use_part", "use_part", "use_part", "photo",
                "sign", "complete", "complete", "problem", "check_out", "comment", "void"),
    "problem": ("depart", "complete", "log_time", "comment"),
    "completed": ("comment", "void", "log_time", "check_out"),
    "cancelled": ("comment",),
}
EVERY = ("accept", "depart", "check_in", "check_out", "step", "log_time", "use_part", "photo", "sign", "complete",
         "problem", "comment", "void")


class Fieldwork:
    """Chooses and performs one device command at a time, from the world's generator."""

    def __init__(self, rng: random.Random, warehouse: str) -> None:
        self.rng = rng
        self.warehouse = warehouse
        self.refused = 0
        self.recorded = 0
        self.errors: list[str] = []  # commands that failed for another reason than a refusal

    def act(self, device: SimDevice) -> str:
        """One command on ``device``; returns what was tried (and whether it was refused)."""
        try:
            name = self._tablet(device) if device.kind == "technician" else self._terminal(device)
        except NotRecorded as exc:
            self.refused += 1
            return f"refused: {exc.field}"
        except SyncError as exc:
            # Not a refusal of a command that does not fit: the device could not record the work.
            self.errors.append(f"{device.name}: a command failed: {exc.__class__.__name__}: {exc}")
            return f"FAILED: {exc.__class__.__name__}"
        self.recorded += name != "idle"
        return name

    # -- a technician's tablet ------------------------------------------------------------------------
    def _tablet(self, device: SimDevice) -> str:
        agent = device.agent
        jobs = views.my_jobs(agent)
        if not jobs:
            return "idle"
        # Mostly a job still to be worked: a finished one gets a late comment, log or void.
        open_jobs = [job for job in jobs if job["status"] not in ("completed", "cancelled")]
        job = self.rng.choice(open_jobs if open_jobs and self.rng.random() < 0.8 else jobs)["id"]
        state = visit.job_status(agent, job)
        command = self.rng.choice(EVERY if self.rng.random() < 0.15 else NEXT.get(state, EVERY))
        getattr(self, command)(device, job)
        return command

    def accept(self, device: SimDevice, job: str) -> None:
        visit.accept(device.agent, job)

    def depart(self, device: SimDevice, job: str) -> None:
        visit.depart(device.agent, job)

    def _fix(self) -> visit.Fix:
        lat, lon = 51.45 + self.rng.uniform(-0.01, 0.01), -2.59 + self.rng.uniform(-0.01, 0.01)
        return visit.Fix(round(lat, 5), round(lon, 5), self.rng.choice((5.0, 12.0, 350.0)))

    def check_in(self, device: SimDevice, job: str) -> None:
        visit.check_in(device.agent, job, self._fix())

    def check_out(self, device: SimDevice, job: str) -> None:
        visit.check_out(device.agent, job, self._fix())

    def step(self, device: SimDevice, job: str) -> None:
        order = device.agent.replica.entity("job", job).get("work_order_id") or ""
        steps = [s["step_id"] for s in device.agent.replica.entity("work_order", order).get("checklist") or []]
        visit.step(device.agent, job, self.rng.choice(steps or ["s0"]), done=self.rng.random() < 0.9)

    def log_time(self, device: SimDevice, job: str) -> None:
        visit.log_time(device.agent, job, minutes=self.rng.randint(5, 150), description="work",
                       billable=self.rng.random() < 0.9)

    def use_part(self, device: SimDevice, job: str) -> None:
        # Mostly one or two from the van; sometimes more than any van holds, or from the warehouse.
        qty = self.rng.choice((1, 1, 2, 3, 12))
        location = self.warehouse if self.rng.random() < 0.15 else None
        visit.use_part(device.agent, job, self.rng.choice(SKUS), qty, location=location)

    def _file(self, device: SimDevice, size: int, suffix: str) -> Any:
        path = device.scratch / f"{self.rng.getrandbits(48):012x}{suffix}"
        path.write_bytes(self.rng.randbytes(size))
        return path

    def photo(self, device: SimDevice, job: str) -> None:
        size = self.rng.choice((300, 3_000, 30_000, BLOB_CHUNK + 1_000)) if self.rng.random() < 0.3 else 500
        visit.photo(device.agent, job, self._file(device, size, ".jpg"), stage=self.rng.choice(("before", "after")))

    def sign(self, device: SimDevice, job: str) -> None:
        visit.sign(device.agent, job, self._file(device, 400, ".png"), signer="J. Smith")

    def complete(self, device: SimDevice, job: str) -> None:
        visit.complete(device.agent, job, notes=f"done by {device.name}")

    def problem(self, device: SimDevice, job: str) -> None:
        visit.problem(device.agent, job, "part missing")

    def comment(self, device: SimDevice, job: str) -> None:
        visit.comment(device.agent, job, f"note from {device.name}", internal=self.rng.random() < 0.5)

    def void(self, device: SimDevice, job: str) -> None:
        records = views.records_of(device.agent, job)
        mine = [(entity, record["id"]) for entity, found in sorted(records.items()) for record in found
                if not record["voided"] and record["by"].rpartition(":")[0] == device.node]
        if not mine:
            raise NotRecorded("record_id", "nothing of mine to void")
        entity, record_id = self.rng.choice(mine)
        visit.void(device.agent, entity, record_id, "recorded by mistake")

    # -- a van's terminal ------------------------------------------------------------------------------
    def _terminal(self, device: SimDevice) -> str:
        agent = device.agent
        roll = self.rng.random()
        if roll < 0.35:
            kits = [k for k in agent.replica.entity_ids("parts_kit")
                    if agent.replica.entity("parts_kit", k).get("to_location_id") == device.subject
                    and agent.replica.entity("parts_kit", k).get("status") == "dispatched"]
            if not kits:
                return "idle"
            # Sometimes the terminal books other quantities than the kit lists (a short delivery).
            lines = [(self.rng.choice(SKUS), self.rng.randint(1, 3))] if self.rng.random() < 0.2 else []
            van.receive_kit(agent, lines, kit_id=self.rng.choice(kits))
            return "receive_kit"
        if roll < 0.55:
            van.count(agent, self.rng.choice(SKUS), self.rng.randint(0, 8))
            return "count"
        if roll < 0.85:
            technicians = agent.replica.entity_ids("technician") or ["somebody"]
            van.hand_out(agent, self.rng.choice(SKUS), self.rng.choice((1, 2, 9)), self.rng.choice(technicians))
            return "hand_out"
        moves = [m for m in agent.replica.entity_ids("stock_move")
                 if (record := agent.replica.entity("stock_move", m)) and not record["voided"]
                 and record["by"].rpartition(":")[0] == device.node]
        if not moves:
            return "idle"
        van.void(agent, "stock_move", self.rng.choice(moves), "booked twice")
        return "void"
