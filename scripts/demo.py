"""FieldSync demo: a hub, two technician tablets and a van-stock terminal, all on this machine.

1. The hub starts as its own process on 127.0.0.1 and announces itself by zeroconf (loopback).
2. The office sets up a customer, site, asset, ticket and work order over the HTTP API and
   dispatches one job to Ana with Ben as crew; the administrator issues enrolment codes.
3. Each device enrols by finding the hub with zeroconf, and syncs. The van terminal receives a
   parts kit.
4. Offline, side by side, Ana and Ben both work the job: check-in, time, parts from the same van,
   photos — and both complete it with different notes (a conflicting edit).
5. They sync. Every replica that holds the job prints the sha256 of the job's canonical merged
   state: identical. Then the van's stock as the terminal and the hub see it, the merged job
   timeline, and the conflicts kept with both values.
6. The office resolves the ticket and the hub's engines run: the SLA clocks, the stock (with the
   exception and purchase request for the parts the van did not hold) and the invoice draft.

Run: python scripts/demo.py [--keep DIR]   (make demo)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schema import REGISTRY  # noqa: E402
from sync.store import SqliteReplica  # noqa: E402

BIN = Path(sys.executable).parent
RECORDS = ("check_event", "time_log", "part_usage", "checklist_step", "attachment", "signature")


def say(text: str = "") -> None:
    print(text, flush=True)


def run(*args: str, home: Path | None = None) -> Any:
    """Run a FieldSync command line as a person would; return its --json output."""
    command = [str(BIN / args[0])]
    if home is not None:
        command += ["--home", str(home)]
    command += [*args[1:]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    if "--json" in args:
        return json.loads(result.stdout)
    # Warnings (stderr) read best after what was recorded (stdout).
    warnings = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("warning")]
    return "\n".join([result.stdout.strip(), *warnings])


class Office:
    """The dispatcher's side: the hub's JSON API with a user token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.session.post(self.url + path, json=body, timeout=30)
        if reply.status_code >= 400:
            raise SystemExit(f"office API {path}: {reply.status_code} {reply.text}")
        return reply.json()

    def get(self, path: str) -> dict[str, Any]:
        reply = self.session.get(self.url + path, timeout=30)
        reply.raise_for_status()
        return reply.json()


def start_hub(folder: Path) -> tuple[subprocess.Popen[str], str]:
    hub = subprocess.Popen(
        [str(BIN / "fieldsync-hub"), "--db", str(folder / "hub.db"), "serve", "--host", "127.0.0.1", "--port", "0",
         "--zeroconf", "--interface", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert hub.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = hub.stdout.readline()
        if "listening on" in line:
            url = line.split("listening on ", 1)[1].split()[0]
            say(f"hub (pid {hub.pid}) listening on {url}, announced as _fieldsync._tcp on 127.0.0.1")
            return hub, url
        if hub.poll() is not None:
            break
    raise SystemExit("the hub did not start")


def stop_hub(hub: subprocess.Popen[str]) -> None:
    if hub.poll() is None:
        os.kill(hub.pid, signal.SIGTERM)
        try:
            hub.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(hub.pid, signal.SIGKILL)
            hub.wait()


def set_up_the_job(office: Office) -> dict[str, str]:
    """The dispatcher's morning: returns the ids the hub gave to what was created."""
    ids: dict[str, str] = {}

    def create(kind: str, body: dict[str, Any]) -> str:
        return office.post(f"/api/v1/{kind}", body)["data"]["id"]

    ids["warehouse"] = create("stock_locations", {"kind": "warehouse", "name": "Central warehouse"})
    ids["van"] = create("stock_locations", {"kind": "van", "name": "Van 7 (Bristol)"})
    ids["ana"] = create("technicians", {"name": "Ana Silva", "van_id": ids["van"], "skills": ["hvac"]})
    ids["ben"] = create("technicians", {"name": "Ben Okafor", "van_id": ids["van"], "skills": ["hvac"]})
    create("items", {"sku": "CAP-45", "name": "Run capacitor 45uF", "unit_cost": "4.10", "unit_price": "12.50"})
    create("items", {"sku": "FAN-12", "name": "Condenser fan motor", "unit_cost": "61.00", "unit_price": "129.00"})
    office.post("/api/v1/stock/receipts", {"location_id": ids["warehouse"],
                                            "lines": [{"sku": "CAP-45", "qty": "20"}, {"sku": "FAN-12", "qty": "4"}]})
    customer = create("customers", {"name": "Harbour Hotel"})
    contract = create("contracts", {
        "customer_id": customer, "title": "Harbour Hotel HVAC — time & material", "type": "time_material",
        "rates": {"labour_rate": "85.00", "callout_fee": "45.00"},
        "billing": {"payment_days": 30, "min_increment_min": 30}})
    office.post(f"/api/v1/contracts/{contract}/status", {"status": "active"})
    site = create("sites", {"customer_id": customer, "name": "Rooftop plant room",
                            "address": "1 Quay Street, Bristol BS1", "lat": 51.4505, "lon": -2.5966})
    asset = create("assets", {"customer_id": customer, "site_id": site, "product": "Rooftop AC unit",
                              "serial": "AC-2231"})
    ticket = create("tickets", {"customer_id": customer, "site_id": site, "asset_id": asset,
                                "contract_id": contract, "title": "Rooftop AC not cooling", "priority": "High",
                                "channel": "phone"})
    ids["ticket"] = ticket
    order = create("work_orders", {
        "ticket_id": ticket, "scope": "Diagnose and repair the rooftop AC unit", "required_skills": ["hvac"],
        "estimated_minutes": 120,
        "checklist": [{"step_id": "isolate", "text": "Isolate power"}, {"step_id": "test", "text": "Test run"}]})
    ids["job"] = create("jobs", {"work_order_id": order, "technician_id": ids["ana"], "crew_ids": [ids["ben"]]})
    ids["kit"] = office.post("/api/v1/stock/kits", {
        "from_location_id": ids["warehouse"], "to_location_id": ids["van"], "job_id": ids["job"],
        "lines": [{"sku": "CAP-45", "qty": "3"}, {"sku": "FAN-12", "qty": "1"}]})["data"]["id"]
    return ids


def job_entities(replica: SqliteReplica, job: str) -> list[tuple[str, str]]:
    """The job and every record that hangs off it, as this replica holds them."""
    found = [("job", job)]
    for entity in RECORDS:
        for eid in replica.entity_ids(entity):
            record = replica.entity(entity, eid)
            if record and record["value"].get("job_id") == job:
                found.append((entity, eid))
    return found


def job_digest(path: Path, job: str) -> str:
    replica = SqliteReplica.open(path, None, REGISTRY)
    try:
        return hashlib.sha256(replica.canonical(job_entities(replica, job))).hexdigest()
    finally:
        replica.close()


def visit_steps(job: str, who: str, notes: str, parts: int, photo: Path) -> list[tuple[str, ...]]:
    return [("accept", job), ("depart", job),
            ("check-in", job, "--lat", "51.4506", "--lon", "-2.5965", "--accuracy", "6"),
            ("step", job, "isolate"),
            ("log-time", job, "--minutes", "50", "--description", notes),
            ("use-part", job, "CAP-45", str(parts)),
            ("photo", job, str(photo), "--stage", "after", "--caption", f"{who}: after repair"),
            ("step", job, "test"),
            ("complete", job, "--notes", notes)]


def work_side_by_side(visits: dict[str, tuple[Path, list[tuple[str, ...]]]]) -> None:
    """Both technicians go through the visit step by step at the same time, each offline."""
    for steps in zip(*(steps for _, steps in visits.values()), strict=True):
        for (who, (home, _)), command in zip(visits.items(), steps, strict=True):
            output = run("fieldsync-agent", *command, home=home)
            shown = " ".join(Path(c).name if c.endswith(".jpg") else c for c in command)
            say(f"  {who}$ fieldsync-agent {shown}")
            for line in output.splitlines():
                # Record ids and the "waiting to sync" tally are in 'status'; keep the story short.
                if not line.startswith(("  + ", "waiting to sync")):
                    say(f"        {line}")


def show_business(office: Office, ids: dict[str, str], names: dict[str, str]) -> None:
    """What the engines made of the day: SLA clocks, stock and its exceptions, the invoice."""
    sla = office.get(f"/api/v1/sla/tickets/{ids['ticket']}")["data"]["sla"]
    say("  SLA (field-service table, High):")
    for clock, picture in sla.get("clocks", sla).items():
        if isinstance(picture, dict) and "state" in picture:
            say(f"    {clock:<10} {picture['state']:<8} "
                f"{picture.get('elapsed_min')} of {picture.get('target_min')} min")
    say("  stock:")
    for location in ("warehouse", "van"):
        for row in office.get(f"/api/v1/stock?location_id={ids[location]}")["data"]:
            say(f"    {location:<9} {row['sku']:<7} on hand {row['on_hand']:>3}  reserved {row.get('reserved')}")
    for exception in office.get("/api/v1/stock/exceptions")["data"]:
        say(f"    stock exception: {exception['reason']} {exception['qty']} x {exception['sku']}")
    for request in office.get("/api/v1/purchase_requests")["data"]:
        say(f"    purchase request: {request['qty']} x {request['sku']} ({request['status']})")
    for invoice in office.get(f"/api/v1/invoices?ticket_id={ids['ticket']}")["data"]:
        say(f"  invoice ({invoice['kind']}, {invoice['status']}, {invoice['currency']}):")
        for line in invoice["lines"]:
            say(f"    {line['description']:<48} {line['qty']:>5} x {line['unit_price']:>7} = {line['amount']:>8}")
        say(f"    {'total':<48} {invoice['total']:>26}")


def describe(event: dict[str, Any], names: dict[str, str]) -> str:
    """One line per timeline event, as a dispatcher reads it."""
    kind, record = event["kind"], event.get("record", {})
    if kind == "status":
        return (f"status -> {event['to']} (skipped: {event['reason']})" if event.get("skipped")
                else f"status {event['from']} -> {event['to']}")
    text = {
        "assignment": lambda: f"assigned to {names.get(event.get('technician_id'), event.get('technician_id'))}",
        "check_in": lambda: f"checked in at {record.get('lat')}, {record.get('lon')} (device time "
                            f"{record.get('device_time')})",
        "check_out": lambda: "checked out",
        "time_log": lambda: f"time logged: {record.get('started_at')} .. {record.get('ended_at')} "
                            f"{record.get('description', '')!r}",
        "part_usage": lambda: f"part used: {record.get('qty')} x {record.get('sku')}",
        "checklist_step": lambda: f"checklist step {record.get('step_id')} done",
        "attachment": lambda: f"photo {record.get('filename')} ({event.get('blob', {}).get('status')})",
        "signature": lambda: f"signed by {record.get('signer_name')}",
        "comment": lambda: f"comment: {record.get('body')!r}",
    }.get(kind, lambda: kind)()
    return text + (" [voided]" if event.get("voided") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="keep every file in DIR instead of a temporary folder")
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fieldsync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    homes = {name: folder / name for name in ("tablet-ana", "tablet-ben", "van-7-terminal")}
    say(f"== FieldSync demo in {folder}")
    token = run("fieldsync-hub", "--db", str(folder / "hub.db"), "admin", "user", "add", "dispatch",
                           "--perm", "service_management:read", "--perm", "service_management:write",
                           "--perm", "service_management:assign", "--perm", "service_management:manage",
                "--perm", "service_management:billing", "--perm", "service_management:report",
                "--json")["token"]
    hub, url = start_hub(folder)
    try:
        office = Office(url, token)
        say("\n== the office dispatches the job (HTTP API)")
        ids = set_up_the_job(office)
        job, van = ids["job"], ids["van"]
        say(f"  job {job}: ticket 'Rooftop AC not cooling' (High) for Harbour Hotel; lead Ana, crew Ben; "
            f"van {van}")

        say("\n== devices enrol: each finds the hub by zeroconf on 127.0.0.1")
        for name, (kind, subject) in {"tablet-ana": ("--technician", ids["ana"]),
                                      "tablet-ben": ("--technician", ids["ben"]),
                                      "van-7-terminal": ("--van", van)}.items():
            code = run("fieldsync-hub", "--db", str(folder / "hub.db"), "admin", "enrol", kind, subject,
                       "--json")["code"]
            enrolled = run("fieldsync-agent", "--json", "enrol", "--code", code, "--interface", "127.0.0.1",
                           "--name", name, home=homes[name])
            say(f"  {name}: enrolled as {enrolled['node']} with the hub at {enrolled['hub']}")
        for name, home in homes.items():
            sync = run("fieldsync-agent", "--json", "sync", home=home)
            say(f"  {name}: pulled {sync['summary']['pulled']} ops")
        say("  van-7-terminal: receives the parts kit the warehouse sent (3 x CAP-45, 1 x FAN-12)")
        say("    $ fieldsync-agent van receive-kit --kit <kit id>")
        for line in run("fieldsync-agent", "van", "receive-kit", "--kit", ids["kit"],
                        home=homes["van-7-terminal"]).splitlines():
            if not line.startswith(("  + ", "waiting to sync")):
                say(f"      {line}")
        run("fieldsync-agent", "sync", home=homes["van-7-terminal"])
        for name in ("tablet-ana", "tablet-ben"):
            run("fieldsync-agent", "sync", home=homes[name])

        say("\n== offline: Ana and Ben both work the job (no sync)")
        photos = {}
        for who in ("ana", "ben"):
            photos[who] = folder / f"after-{who}.jpg"
            photos[who].write_bytes(b"\xff\xd8\xff\xe0 demo photo " + os.urandom(200_000))
        work_side_by_side({
            "ana": (homes["tablet-ana"], visit_steps(job, "Ana", "Replaced the run capacitor; unit cooling", 2,
                                                     photos["ana"])),
            "ben": (homes["tablet-ben"], visit_steps(job, "Ben", "Cleaned condenser, replaced capacitor", 2,
                                                     photos["ben"])),
        })

        say("\n== back online: everyone syncs (twice, so each sees the others' work)")
        for _round in range(2):
            for name, home in homes.items():
                result = run("fieldsync-agent", "--json", "sync", home=home)
                summary = result["summary"]
                say(f"  {name}: pushed {summary['pushed']}, pulled {summary['pulled']}, photos "
                    f"{summary['blobs_uploaded']}, refused {len(summary['rejected'])}; "
                    f"waiting {result['status']['pending_ops']}")

        say()
        digests = {"hub": job_digest(folder / "hub.db", job),
                   "tablet-ana": job_digest(homes["tablet-ana"] / "device.db", job),
                   "tablet-ben": job_digest(homes["tablet-ben"] / "device.db", job)}
        for name, digest in digests.items():
            say(f"digest {name}: {digest}")
        identical = len(set(digests.values())) == 1
        say(f"identical: {identical}")

        say("\n== van-7 stock (3 CAP-45 received; Ana used 2, Ben used 2 — more than the van held)")
        terminal = run("fieldsync-agent", "--json", "van", "stock", home=homes["van-7-terminal"])
        hub_replica = SqliteReplica.open(folder / "hub.db", None, REGISTRY)
        try:
            for sku in ("CAP-45", "FAN-12"):
                on_terminal = next((row for row in terminal["stock"] if row["sku"] == sku), {}).get("on_hand")
                at_hub = hub_replica.entity("stock", f"{van}:{sku}").get("on_hand")
                say(f"  {sku}: terminal {on_terminal}, hub {at_hub}")
        finally:
            hub_replica.close()

        say("\n== the merged job timeline (GET /api/v1/jobs/<id>/timeline)")
        timeline = office.get(f"/api/v1/jobs/{job}/timeline")["data"]
        names = {ids["ana"]: "Ana Silva", ids["ben"]: "Ben Okafor"}
        for event in timeline["events"]:
            who = (event.get("device") or {}).get("name") or event["by"]
            say(f"  {event['at'][11:23]}  {who:<14} {describe(event, names)}")
        say("\n== conflicts kept, both values visible")
        for conflict in timeline["conflicts"]:
            lost = f"{conflict['value']!r} lost to {conflict['winner_value']!r}" if conflict.get("winner") else ""
            say(f"  {conflict['entity']} {conflict['eid']}.{conflict['field']}: {conflict['detail']} {lost}")
        say("\n== the office resolves the ticket; the hub's engines turn the merged work into the business")
        for target in ("in_progress", "resolved"):
            office.post(f"/api/v1/tickets/{ids['ticket']}/status", {"status": target})
        written = office.post("/api/v1/engines/run", {})["data"]["written"]
        say(f"  engines wrote: {', '.join(f'{name} {count}' for name, count in written.items())} op(s)")
        show_business(office, ids, names)
        return 0 if identical else 1
    finally:
        stop_hub(hub)
        say(f"\nhub stopped (pid {hub.pid})")


if __name__ == "__main__":
    sys.exit(main())
