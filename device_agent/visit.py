"""A technician's visit, recorded offline: status moves and the visit's immutable records.

Every function takes an :class:`~device_agent.agent.Agent`, checks the command against what the
local replica knows — the job is on this device and assigned to this technician, the move is
allowed from the job's current state, the values fit ``schema/`` — and records it durably in one
transaction (``Agent.write``), or raises :class:`NotRecorded` naming the field, with nothing
written. Nothing here needs the hub. Each function returns a :class:`Recorded`: what was written
and the warnings a technician must see but that never block them (a van going below zero, a
checklist left undone). The hub's write policy (``hub/scope.py``) would quarantine anything else,
so only what it allows is authored: job status/completion_notes/problem, records of the
technician's jobs, voids of this device's records, its own van's stock.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schema.machines import JOB
from schema.visit import EARLIEST_WORK
from sync.ops import dumps, loads

from . import views
from .agent import Agent
from .van import (
    VOIDABLE,
    Batch,
    NotRecorded,
    Recorded,
    item_of,
    move_stock,
    new_record_id,
    own_van,
    quantity,
    validate,
    void,
)

# Photo formats tablets produce that the standard table may not know.
_EXTRA_MIME = {".heic": "image/heic", ".heif": "image/heif", ".webp": "image/webp"}


# -- what the local replica knows -------------------------------------------------------------------
def technician_of(agent: Agent) -> str:
    """This tablet's technician; NotRecorded on a van terminal, which has none."""
    if agent.config.kind != "technician" or not agent.config.technician_id:
        raise NotRecorded("device", f"this is the {agent.config.kind} terminal of {agent.config.van_id}; "
                          "visit commands are recorded on the technician's tablet",
                          hint="here, use 'fieldsync-agent van stock|receive-kit|count|hand-out'")
    return agent.config.technician_id


def job_of(agent: Agent, job_id: str) -> dict[str, Any]:
    """The job as this device holds it; NotRecorded if it is unknown, gone, or someone else's."""
    job = agent.replica.entity("job", job_id)
    hint = "'fieldsync-agent jobs' lists your jobs; 'fieldsync-agent sync' fetches new ones"
    if not job or job.get("_deleted"):
        raise NotRecorded("job", f"no job {job_id} on this device", hint=hint)
    if agent.has_left("job", job_id):
        raise NotRecorded("job", f"{job_id} was reassigned away from this device", hint="ask dispatch")
    mine = agent.config.technician_id
    crew = {job.get("technician_id"), *job.get("crew_ids", [])}
    if agent.config.kind == "technician" and mine not in crew:
        raise NotRecorded("job", f"{job_id} is assigned to {job.get('technician_id') or 'nobody'}, not {mine}",
                          hint=hint)
    return job


def job_status(agent: Agent, job_id: str) -> str:
    """The job's state as replayed from the transitions this device holds."""
    register = agent.replica.register("job", job_id, "status")
    return register.state if register is not None else JOB.initial


# -- status moves --------------------------------------------------------------------------------------
def _sources(target: str) -> list[str]:
    return sorted(state for state, targets in JOB.edges.items() if target in targets)


def _check_move(job_id: str, state: str, target: str, hint: str = "") -> None:
    if JOB.step(state, None, target) is not None:
        return
    if state in JOB.terminal or state == target:
        # The way forward a command suggests (check in first...) leads nowhere from here.
        finished = "the job is finished: its status moves no further" if state in JOB.terminal else "nothing to do"
        raise NotRecorded("status", f"{job_id} is already {state}", hint=f"{finished}; "
                          f"'fieldsync-agent show {job_id}' shows what was recorded")
    raise NotRecorded("status", f"{job_id} is {state}; it can move to {target} only from "
                      f"{' or '.join(_sources(target))}", hint=hint)


def _path(state: str, target: str) -> list[str] | None:
    """The shortest chain of allowed moves from ``state`` to ``target`` (cancelling excluded)."""
    queue: deque[tuple[str, list[str]]] = deque([(state, [])])
    seen = {state}
    while queue:
        current, path = queue.popleft()
        for following in sorted(JOB.edges.get(current, ())):
            if following == target:
                return [*path, following]
            if following not in seen:
                seen.add(following)
                queue.append((following, [*path, following]))
    return None


def _simple_move(agent: Agent, job_id: str, target: str, command: str, hint: str = "") -> Recorded:
    technician_of(agent)
    job_of(agent, job_id)
    state = job_status(agent, job_id)
    _check_move(job_id, state, target, hint)
    batch = Batch(agent)
    batch.move(job_id, target)
    return batch.commit(command, f"{job_id}: {state} -> {target}", job_id)


def accept(agent: Agent, job_id: str) -> Recorded:
    """Accept a scheduled job (scheduled -> accepted)."""
    return _simple_move(agent, job_id, "accepted", "accept")


def depart(agent: Agent, job_id: str) -> Recorded:
    """Set off for the job (-> en_route), from scheduled, accepted, or problem for a return trip."""
    return _simple_move(agent, job_id, "en_route", "depart")


# -- on site -------------------------------------------------------------------------------------------
@dataclass
class Fix:
    """A GPS position: degrees, accuracy in metres, and when the receiver took it (ISO, optional)."""

    lat: Any
    lon: Any
    accuracy_m: Any = None
    time: str | None = None


def read_fix(path: str | Path) -> Fix:
    """Read a GPS fix file: a JSON object {"lat", "lon", "accuracy_m"[, "time"]}."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise NotRecorded("gps_file", f"cannot read a JSON fix from {path}: {exc}",
                          hint='the file holds {"lat": 51.45, "lon": -2.59, "accuracy_m": 8}') from None
    if not isinstance(data, dict) or "lat" not in data or "lon" not in data:
        raise NotRecorded("gps_file", f"{path} must hold an object with lat and lon")
    return Fix(data["lat"], data["lon"], data.get("accuracy_m"), data.get("time"))


def _check_event(agent: Agent, batch: Batch, job: dict[str, Any], job_id: str, direction: str, fix: Fix) -> None:
    batch.append("check_event", {
        "job_id": job_id, "technician_id": agent.config.technician_id, "direction": direction,
        "lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m, "device_time": agent.device_time()})
    if fix.accuracy_m is not None and float(fix.accuracy_m) > 200:
        batch.warn(f"GPS accuracy is {fix.accuracy_m} m: the position may not prove where you were")
    if fix.time:
        try:
            age = datetime.fromisoformat(agent.device_time()) - datetime.fromisoformat(fix.time)
        except (TypeError, ValueError):
            raise NotRecorded("time", f"{fix.time!r} is not an ISO time with a zone") from None
        if age > timedelta(minutes=10):
            batch.warn(f"the GPS fix is {int(age.total_seconds() // 60)} min old: the position may be stale")


def check_in(agent: Agent, job_id: str, fix: Fix) -> Recorded:
    """Arrive on site: a check_event 'in' with the position and the device's time, and the job
    moves to on_site — through en_route if the technician never marked leaving (the arrival is
    what the SLA needs; refusing it would lose it). Already on site: the check-in alone is added."""
    technician_of(agent)
    job = job_of(agent, job_id)
    state = job_status(agent, job_id)
    batch = Batch(agent)
    _check_event(agent, batch, job, job_id, "in", fix)
    if state == "on_site":
        return batch.commit("check-in", f"checked in again at {job_id} (already on_site)", job_id)
    path = _path(state, "on_site") if state not in JOB.terminal else None
    if path is None:
        _check_move(job_id, state, "on_site")
    for target in path or ():
        batch.move(job_id, target)
    return batch.commit("check-in", f"checked in at {job_id}: {' -> '.join([state, *(path or ())])}", job_id)


def check_out(agent: Agent, job_id: str, fix: Fix) -> Recorded:
    """Leave the site: a check_event 'out'. The job's status does not change."""
    technician_of(agent)
    job = job_of(agent, job_id)
    state = job_status(agent, job_id)
    if state not in ("on_site", "problem", "completed"):
        raise NotRecorded("status", f"{job_id} is {state}: there is no check-in to check out of",
                          hint=f"check in first: 'fieldsync-agent check-in {job_id} --lat .. --lon ..'")
    batch = Batch(agent)
    _check_event(agent, batch, job, job_id, "out", fix)
    return batch.commit("check-out", f"checked out of {job_id}", job_id)


def step(agent: Agent, job_id: str, step_id: str, done: bool = True, note: str = "") -> Recorded:
    """Mark a checklist step of the job's work order done (or not done again, ``done=False``)."""
    technician_of(agent)
    job = job_of(agent, job_id)
    order_id = job.get("work_order_id") or ""
    checklist = agent.replica.entity("work_order", order_id).get("checklist") or [] if order_id else []
    valid = [s["step_id"] for s in checklist]
    if step_id not in valid:
        listed = f"valid steps: {', '.join(valid)}" if valid else f"work order {order_id} has no checklist"
        raise NotRecorded("step_id", f"{step_id!r} is not a step of {order_id or job_id}; {listed}",
                          hint=f"'fieldsync-agent show {job_id}' lists the checklist")
    batch = Batch(agent)
    batch.append("checklist_step", {"job_id": job_id, "step_id": step_id, "done": done, "note": note,
                                    "device_time": agent.device_time()})
    return batch.commit("step", f"step {step_id} of {job_id} marked {'done' if done else 'not done'}", job_id)


# The times a time log may hold, by this tablet's clock: none before the schema's EARLIEST_WORK
# (2000) and none more than a day ahead of the clock (a year typed 9999). One rule, for every time
# recorded, typed or the clock's own, and the only one about the future: outside it is a typo or a
# clock set wrong, never work to bill, so it is refused as it is typed. A few hours ahead is left
# to the hub, which measures the tablet's clock and moves its times by the offset.
EARLIEST_TIME = EARLIEST_WORK
MOST_AHEAD = timedelta(days=1)


def _instant(name: str, option: str, text: str, now: datetime) -> datetime:
    """The time typed for ``option`` (the record's field ``name``); NotRecorded, naming the option
    and what to do, if it is not an ISO time or lies outside :data:`EARLIEST_TIME` to
    :data:`MOST_AHEAD` of ``now`` (this tablet's clock)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise NotRecorded(name, f"{option} {text!r} is not an ISO time such as 2026-11-27T09:30") from None
    if moment.tzinfo is None:
        # A time typed without a zone is the tablet's local time, as the technician read it. At the
        # ends of the calendar (year 1, year 9999) the local time has no UTC instant: such a time
        # lies far outside the rule whatever its zone, which is all that is left to say of it.
        try:
            moment = moment.astimezone()
        except (ValueError, OverflowError):
            moment = moment.replace(tzinfo=UTC)
    # Differences, not conversions: an instant near year 1 or 9999 converts to no other zone.
    if moment - EARLIEST_TIME < timedelta(0):
        example = (now if now >= EARLIEST_TIME else datetime(2026, 11, 27, 9, 30)).strftime("%Y-%m-%dT09:30")
        raise NotRecorded(name, f"{option} {text} is before {EARLIEST_TIME.year}; type the date and time the work "
                                f"was done, such as {example}")
    if moment - now > MOST_AHEAD:
        raise NotRecorded(name, f"{option} {text} is more than a day ahead of this tablet's clock ({_shown(now)}); "
                                "type the date and time the work was done, and if the tablet's clock is wrong, "
                                "set it first")
    return moment


def _shown(clock: datetime) -> str:
    """The tablet's clock as its technician reads it: local time, to the minute."""
    return clock.astimezone().isoformat(timespec="minutes")


def log_time(agent: Agent, job_id: str, *, start: str | None = None, end: str | None = None,
             minutes: int | None = None, description: str = "", billable: bool = True,
             category: str = "labour") -> Recorded:
    """Log time on the job: ``start`` and ``end`` (ISO), or ``minutes`` ending now (device time).
    Every time lies from 2000 to a day ahead of the device's clock (:data:`EARLIEST_TIME`)."""
    technician = technician_of(agent)
    job_of(agent, job_id)
    if minutes is not None and (start or end):
        raise NotRecorded("minutes", "give either --minutes or --start and --end, not both")
    now = datetime.fromisoformat(agent.device_time())
    if minutes is not None:
        if not 1 <= minutes <= 24 * 60:
            raise NotRecorded("minutes", f"must be between 1 and 1440, got {minutes}")
        if now - timedelta(minutes=minutes) < EARLIEST_TIME:
            raise NotRecorded("minutes", f"--minutes ends now, and this tablet's clock says {_shown(now)}, before "
                                         f"{EARLIEST_TIME.year}; set its date and time, then log the time again")
        began, ended = now - timedelta(minutes=minutes), now
    elif start and end:
        began, ended = _instant("started_at", "--start", start, now), _instant("ended_at", "--end", end, now)
    else:
        raise NotRecorded("started_at" if not start else "ended_at", "give --start and --end, or --minutes")
    batch = Batch(agent)
    batch.append("time_log", {"job_id": job_id, "technician_id": technician,
                              "started_at": began.isoformat(timespec="seconds"),
                              "ended_at": ended.isoformat(timespec="seconds"), "description": description,
                              "billable": billable, "category": category})
    span = int((ended - began).total_seconds() // 60)
    kind = f"{category}, {'billable' if billable else 'non-billable'}"
    return batch.commit("log-time", f"logged {span} min on {job_id} ({kind})", job_id)


def use_part(agent: Agent, job_id: str, sku: str, qty: Any, location: str | None = None,
             note: str = "") -> Recorded:
    """Record a part used on the job. From the technician's own van (the default) the van's
    on_hand goes down with a 'usage' stock_move beside it — below zero too, with a warning: the
    technician is never blocked. From any other location only the part_usage is recorded; the
    hub raises that location's stock movement (it is not this device's to write)."""
    technician = technician_of(agent)
    job_of(agent, job_id)
    item_of(agent, sku)
    amount = quantity(qty)
    van = own_van(agent)
    source = location or van
    if not source:
        raise NotRecorded("location", f"no van is recorded for {technician}", hint="give --from LOCATION")
    batch = Batch(agent)
    usage = batch.append("part_usage", {"job_id": job_id, "sku": sku, "qty": str(amount), "location_id": source,
                                        "technician_id": technician, "note": note,
                                        "device_time": agent.device_time()})
    text = f"used {amount} x {sku} on {job_id} from {source}"
    if source == van:
        # The stock_move shares the part_usage's id: voiding the usage finds its movement directly.
        before, after = move_stock(batch, van, sku, -amount, "usage", move_id=usage, job_id=job_id,
                                   note=f"used on {job_id}")
        text += f"; {van} {sku}: {before} -> {after}"
    else:
        text += f"; the hub will raise the stock movement for {source}"
        if not agent.replica.entity("stock_location", source):
            # Recorded all the same (a colleague's van this tablet has never synced): the hub
            # knows every location, and its inventory engine raises an exception for a wrong one.
            batch.warn(f"{source!r} is not a location this device holds (a warehouse or another van may well "
                       "not be): if it is mistyped, void this use and record it again; the hub checks it")
    return batch.commit("use-part", text, job_id)


def guess_mime(path: Path) -> str:
    """The MIME type by file name; application/octet-stream when unknown."""
    return _EXTRA_MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file(name: str, path: str | Path) -> tuple[Path, str, int]:
    path = Path(path)
    if not path.is_file():
        raise NotRecorded(name, f"no file {path}")
    size = path.stat().st_size
    if size == 0:
        raise NotRecorded(name, f"{path} is empty")
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return path, hasher.hexdigest(), size


def photo(agent: Agent, job_id: str, file: str | Path, caption: str = "", stage: str = "during") -> Recorded:
    """Attach a photo (or document): the file is stored and queued for upload, then recorded."""
    technician_of(agent)
    job_of(agent, job_id)
    path, digest, size = _file("file", file)
    mime = guess_mime(path)
    record = {"job_id": job_id, "sha256": digest, "size": size, "mime": mime, "filename": path.name[-255:],
              "caption": caption, "stage": stage, "device_time": agent.device_time()}
    validate("attachment", record)  # before the blob is kept: a bad --stage stores nothing
    record["sha256"], record["size"] = agent.store_blob(path, mime)
    batch = Batch(agent)
    batch.append("attachment", record)
    return batch.commit("photo", f"photo {path.name} ({stage}, {size} bytes) attached to {job_id}", job_id)


def complete(agent: Agent, job_id: str, notes: str | None = None) -> Recorded:
    """Complete the job (from on_site or problem) with optional completion notes. Warns — but
    records — when required checklist steps are not done or no (current) signature was captured."""
    technician_of(agent)
    job_of(agent, job_id)
    state = job_status(agent, job_id)
    _check_move(job_id, state, "completed", f"check in first: 'fieldsync-agent check-in {job_id} --lat .. --lon ..'")
    batch = Batch(agent)
    if notes is not None:
        if len(notes) > 5000:
            raise NotRecorded("notes", "at most 5000 characters")
        batch.set("job", job_id, "completion_notes", notes)
    batch.move(job_id, "completed")
    for warning in signoff_warnings(agent, job_id):
        batch.warn(warning)
    noted = " with completion notes" if notes else ""
    return batch.commit("complete", f"{job_id}: {state} -> completed{noted}", job_id)


def problem(agent: Agent, job_id: str, reason: str) -> Recorded:
    """The intervention failed (missing parts, no access...): status problem, with the reason."""
    technician_of(agent)
    job_of(agent, job_id)
    if not reason or not reason.strip() or len(reason) > 2000:
        raise NotRecorded("reason", "say what stopped the work (1 to 2000 characters)")
    state = job_status(agent, job_id)
    _check_move(job_id, state, "problem", f"check in first: 'fieldsync-agent check-in {job_id} --lat .. --lon ..'")
    batch = Batch(agent)
    batch.set("job", job_id, "problem", reason)
    batch.move(job_id, "problem")
    return batch.commit("problem", f"{job_id}: {state} -> problem ({reason})", job_id)


def comment(agent: Agent, job_id: str, body: str, internal: bool = False) -> Recorded:
    """Comment on the job's ticket: customer-visible, or internal to the office."""
    technician = technician_of(agent)
    job = job_of(agent, job_id)
    if not body or not body.strip():
        raise NotRecorded("body", "a comment needs some text")
    ticket_id = job.get("ticket_id")
    if not ticket_id:
        raise NotRecorded("job", f"{job_id} has no ticket on this device", hint="sync, then try again")
    name = agent.replica.entity("technician", technician).get("name") or technician
    batch = Batch(agent)
    visibility = "internal" if internal else "customer"
    batch.append("ticket_comment", {"ticket_id": ticket_id, "visibility": visibility, "body": body,
                                    "author": name, "written_at": agent.device_time()})
    return batch.commit("comment", f"{visibility} comment on ticket {ticket_id} ({job_id})", job_id)


# -- sign-off --------------------------------------------------------------------------------------------
def service_summary(agent: Agent, job_id: str) -> dict[str, Any]:
    """The service summary the customer signs (seed 002, stage 6): the work done, the parts used
    and the time logged, from ``views.job_card``, voided records left out. Record ids are part of
    it, so the hash says exactly which records were signed for."""
    card = views.job_card(agent, job_id)
    records = card["records"]

    def live(kind: str) -> list[dict[str, Any]]:
        return sorted((r for r in records[kind] if not r["voided"]), key=lambda r: r["id"])

    notes = {r["step_id"]: r.get("note", "") for r in live("checklist_step")}
    parts = [{"record_id": r["id"], "sku": r["sku"], "name": agent.replica.entity("item", r["sku"]).get("name"),
              "qty": str(r["qty"]), "location_id": r["location_id"]} for r in live("part_usage")]
    times = []
    for r in live("time_log"):
        minutes = int((datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["started_at"]))
                      .total_seconds() // 60)
        times.append({"record_id": r["id"], "started_at": r["started_at"], "ended_at": r["ended_at"],
                      "minutes": minutes, "category": r.get("category", "labour"),
                      "billable": r.get("billable", True), "description": r.get("description", "")})
    return {
        "job_id": job_id, "work_order_id": card["job"].get("work_order_id"), "ticket_id": card["job"].get("ticket_id"),
        "customer": card["customer"].get("name"), "site": card["site"].get("address"),
        "asset": {"product": card["asset"].get("product"), "serial": card["asset"].get("serial")}
        if card["asset"] else None,
        "technician_id": card["job"].get("technician_id"),
        "work": {"scope": card["work_order"].get("scope"),
                 "steps": [{"step_id": s["step_id"], "text": s["text"], "done": s["done"],
                            "note": notes.get(s["step_id"], "")} for s in card["checklist"]]},
        "parts": parts, "time": times,
        "totals": {"minutes": sum(t["minutes"] for t in times),
                   "billable_minutes": sum(t["minutes"] for t in times if t["billable"]), "parts": len(parts)},
    }


def summary_bytes(summary: dict[str, Any]) -> bytes:
    """Canonical bytes of a summary (sorted keys, no whitespace): what summary_sha256 hashes."""
    return dumps(summary)


def sign(agent: Agent, job_id: str, image: str | Path, signer: str) -> Recorded:
    """The customer's sign-off: the signature image and the canonical service summary they saw are
    both stored as blobs (the summary's blob name *is* its SHA-256, so the hub and ``signed_summary``
    can show exactly what was signed), and a signature record holds both hashes."""
    technician_of(agent)
    job_of(agent, job_id)
    path, digest, _size = _file("image", image)
    summary = service_summary(agent, job_id)
    data = summary_bytes(summary)
    record = {"job_id": job_id, "signer_name": signer, "image_sha256": digest,
              "summary_sha256": hashlib.sha256(data).hexdigest(), "signed_at": agent.device_time()}
    validate("signature", record)
    staging = agent.home / f".summary-{record['summary_sha256']}.json"
    staging.write_bytes(data)
    try:
        agent.store_blob(staging, "application/json")
    finally:
        staging.unlink(missing_ok=True)
    record["image_sha256"], _ = agent.store_blob(path, guess_mime(path))
    batch = Batch(agent)
    batch.append("signature", record)
    batch.recorded.details["summary"] = summary
    if not any(not r["voided"] and r["direction"] == "in" for r in _records(agent, "check_event", job_id)):
        batch.warn(f"no check-in is recorded for {job_id}")
    if not summary["parts"] and not summary["time"]:
        batch.warn("no parts or time are recorded yet: the customer signed an empty summary")
    return batch.commit("sign", f"{signer} signed the service summary of {job_id}", job_id)


def _records(agent: Agent, entity: str, job_id: str) -> list[dict[str, Any]]:
    return views.records_of(agent, job_id)[entity]


def signed_summary(agent: Agent, job_id: str) -> dict[str, Any] | None:
    """The latest live signature of the job with the summary it signed (None if this device does
    not hold that blob), and whether the job's records still match it."""
    signatures = sorted((r for r in _records(agent, "signature", job_id) if not r["voided"]), key=lambda r: r["id"])
    if not signatures:
        return None
    signature = signatures[-1]
    stored = agent.blob_path(signature["summary_sha256"])
    summary = None
    if stored.exists() and hashlib.sha256(stored.read_bytes()).hexdigest() == signature["summary_sha256"]:
        summary = loads(stored.read_bytes())
    current = hashlib.sha256(summary_bytes(service_summary(agent, job_id))).hexdigest()
    return {"signature": signature, "summary": summary, "current_sha256": current,
            "matches_current": current == signature["summary_sha256"]}


def signoff_warnings(agent: Agent, job_id: str) -> list[str]:
    """What is missing before a job is closed: required steps not done, no or an outdated signature."""
    warnings = []
    undone = [s["step_id"] for s in views.job_card(agent, job_id)["checklist"]
              if s.get("required", True) and not s["done"]]
    if undone:
        warnings.append(f"required checklist steps not done: {', '.join(undone)}")
    signed = signed_summary(agent, job_id)
    if signed is None:
        warnings.append(f"no customer signature captured: 'fieldsync-agent sign {job_id} --image FILE --signer NAME'")
    elif not signed["matches_current"]:
        warnings.append("records changed after the customer signed: the signature covers an older summary; "
                        "capture a new one with 'fieldsync-agent sign'")
    return warnings


# ``void`` lives in van.py beside the stock it may put back; it is the technician's command too.
__all__ = ["VOIDABLE", "NotRecorded", "Recorded", "Fix", "accept", "depart", "check_in", "check_out", "step",
           "log_time", "use_part", "photo", "complete", "problem", "comment", "void", "read_fix", "new_record_id",
           "sign", "service_summary", "signed_summary", "signoff_warnings"]
