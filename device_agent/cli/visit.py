"""The technician's visit: accept, depart, check-in, check-out, step, log-time, use-part, photo,
sign, summary, complete, problem, comment, void. Thin: parse, call ``device_agent.visit``, print.

Every command works with no network: it records on this device and says what waits to sync.
A refusal prints what was wrong and what to do next (with ``--json``, the one error shape
``{"ok": false, "error", "errors": [{"field", "reason"}], "hint", "status"}`` on stdout).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from schema.visit import STAGES, TIME_CATEGORIES
from sync.errors import SyncError

from .. import visit
from ..van import NotRecorded, Recorded
from . import Refused, agent_of, emit, main


@contextmanager
def refusals(ctx: click.Context) -> Iterator[None]:
    """Turn the library's refusals (and a missing enrolment) into :class:`Refused`."""
    try:
        yield
    except SyncError as exc:
        raise Refused.of(exc, ctx.find_root().obj["json"]) from None


def report(ctx: click.Context, recorded: Recorded, lines: Iterable[str] = ()) -> None:
    """Say what was recorded, any warnings (stderr, yellow), and what waits for a network."""
    state = agent_of(ctx).status()
    waiting = {"ops": state["pending_ops"], "files": state["pending_blobs"]}
    as_json = ctx.find_root().obj["json"]
    text = [f"recorded: {recorded.description}"]
    text += [f"  + {r['entity']} {r['id']}" for r in recorded.records]
    text += list(lines)
    text.append(f"waiting to sync: {waiting['ops']} change(s), {waiting['files']} file(s) — "
                "they go up at the next 'fieldsync-agent sync'")
    if not as_json:
        for warning in recorded.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
    emit(ctx, {**recorded.to_json(), "waiting": waiting}, "\n".join(text))


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The service summary as the customer reads it on the screen."""
    lines = [f"service summary of {summary['job_id']} — {summary['customer'] or '?'}, {summary['site'] or '?'}",
             f"work: {summary['work']['scope'] or '-'}"]
    for step in summary["work"]["steps"]:
        note = f" — {step['note']}" if step["note"] else ""
        lines.append(f"  [{'x' if step['done'] else ' '}] {step['step_id']}: {step['text']}{note}")
    lines.append("parts:" if summary["parts"] else "parts: none")
    lines += [f"  {p['qty']} x {p['sku']} {p['name'] or ''} (from {p['location_id']})" for p in summary["parts"]]
    lines.append("time:" if summary["time"] else "time: none")
    for t in summary["time"]:
        billable = "" if t["billable"] else ", non-billable"
        lines.append(f"  {t['started_at']} to {t['ended_at']}: {t['minutes']} min {t['category']}{billable}"
                     f"{' — ' + t['description'] if t['description'] else ''}")
    totals = summary["totals"]
    lines.append(f"total: {totals['minutes']} min ({totals['billable_minutes']} billable), "
                 f"{totals['parts']} part line(s)")
    return lines


def _job_argument(function: Any) -> Any:
    return click.argument("job_id", metavar="JOB")(function)


def _gps_options(function: Any) -> Any:
    for option in reversed((
        click.option("--lat", type=float, help="latitude in degrees (-90 to 90)"),
        click.option("--lon", type=float, help="longitude in degrees (-180 to 180)"),
        click.option("--accuracy", type=float, help="GPS accuracy in metres"),
        click.option("--gps-file", type=click.Path(dir_okay=False, path_type=Path),
                     help='a JSON fix from the GPS receiver: {"lat", "lon", "accuracy_m"[, "time"]}'),
    )):
        function = option(function)
    return function


def _fix(lat: float | None, lon: float | None, accuracy: float | None, gps_file: Path | None) -> visit.Fix:
    if gps_file is not None:
        if lat is not None or lon is not None:
            raise NotRecorded("gps_file", "give --gps-file or --lat/--lon, not both")
        return visit.read_fix(gps_file)
    if lat is None or lon is None:
        raise NotRecorded("lat" if lat is None else "lon", "give --lat and --lon (degrees), or --gps-file FILE")
    return visit.Fix(lat, lon, accuracy)


@main.command("accept")
@_job_argument
@click.pass_context
def accept_command(ctx: click.Context, job_id: str) -> None:
    """Accept a scheduled job (scheduled -> accepted).

    \b
    Example: fieldsync-agent accept job-1
    """
    with refusals(ctx):
        report(ctx, visit.accept(agent_of(ctx), job_id))


@main.command("depart")
@_job_argument
@click.pass_context
def depart_command(ctx: click.Context, job_id: str) -> None:
    """Set off for the job (-> en_route).

    Also starts the return trip after a problem.

    \b
    Example: fieldsync-agent depart job-1
    """
    with refusals(ctx):
        report(ctx, visit.depart(agent_of(ctx), job_id))


@main.command("check-in")
@_job_argument
@_gps_options
@click.pass_context
def check_in_command(ctx: click.Context, job_id: str, lat: float | None, lon: float | None,
                     accuracy: float | None, gps_file: Path | None) -> None:
    """Arrive on site: where and when; the job -> on_site.

    The time is this device's clock (the hub corrects it). If you never marked leaving, the
    job goes through en_route on the way.

    \b
    Examples:
      fieldsync-agent check-in job-1 --lat 51.4545 --lon -2.5879 --accuracy 8
      fieldsync-agent check-in job-1 --gps-file /run/gps/fix.json
    """
    with refusals(ctx):
        report(ctx, visit.check_in(agent_of(ctx), job_id, _fix(lat, lon, accuracy, gps_file)))


@main.command("check-out")
@_job_argument
@_gps_options
@click.pass_context
def check_out_command(ctx: click.Context, job_id: str, lat: float | None, lon: float | None,
                      accuracy: float | None, gps_file: Path | None) -> None:
    """Leave the site: where and when (status unchanged).

    \b
    Example: fieldsync-agent check-out job-1 --gps-file /run/gps/fix.json
    """
    with refusals(ctx):
        report(ctx, visit.check_out(agent_of(ctx), job_id, _fix(lat, lon, accuracy, gps_file)))


@main.command("step")
@_job_argument
@click.argument("step_id", metavar="STEP_ID")
@click.option("--undone", is_flag=True, help="mark the step not done again")
@click.option("--note", default="", help="what you found or did at this step")
@click.pass_context
def step_command(ctx: click.Context, job_id: str, step_id: str, undone: bool, note: str) -> None:
    """Tick a checklist step of the job's work order.

    'fieldsync-agent show JOB' lists the steps.

    \b
    Example: fieldsync-agent step job-1 isolate --note "breaker 4 locked off"
    """
    with refusals(ctx):
        report(ctx, visit.step(agent_of(ctx), job_id, step_id, done=not undone, note=note))


@main.command("log-time")
@_job_argument
@click.option("--start", help="when the work started, ISO (2026-11-27T09:00; no zone = this tablet's)")
@click.option("--end", help="when it ended, ISO")
@click.option("--minutes", type=int, help="or: this many minutes, ending now")
@click.option("--description", default="", help="what the time was spent on")
@click.option("--non-billable", is_flag=True, help="not to be billed to the customer")
@click.option("--category", type=click.Choice(TIME_CATEGORIES), default="labour", show_default=True,
              help="what kind of time it was")
@click.pass_context
def log_time_command(ctx: click.Context, job_id: str, start: str | None, end: str | None, minutes: int | None,
                     description: str, non_billable: bool, category: str) -> None:
    """Log time on the job: --start/--end or --minutes.

    --minutes ends now, by this device's clock.

    \b
    Examples:
      fieldsync-agent log-time job-1 --start 2026-11-27T09:10 --end 2026-11-27T10:25 --description repair
      fieldsync-agent log-time job-1 --minutes 40 --category travel
    """
    with refusals(ctx):
        report(ctx, visit.log_time(agent_of(ctx), job_id, start=start, end=end, minutes=minutes,
                                   description=description, billable=not non_billable, category=category))


@main.command("use-part")
@_job_argument
@click.argument("sku", metavar="SKU")
@click.argument("qty", metavar="QTY")
@click.option("--from", "location", default=None, help="take it from this location instead of your van")
@click.option("--note", default="", help="a note for the office")
@click.pass_context
def use_part_command(ctx: click.Context, job_id: str, sku: str, qty: str, location: str | None, note: str) -> None:
    """Record a part used on the job (from your van).

    Your van's stock goes down with it. Using more than the van shows warns but is recorded:
    the hub raises the stock exception. From another location only the use is recorded here;
    the hub moves that location's stock.

    \b
    Examples:
      fieldsync-agent use-part job-1 CAP-45 1
      fieldsync-agent use-part job-1 CABLE-2.5 1.5 --from wh-central
    """
    with refusals(ctx):
        report(ctx, visit.use_part(agent_of(ctx), job_id, sku, qty, location, note))


@main.command("photo")
@_job_argument
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--caption", default="", help="what the photo shows")
@click.option("--stage", type=click.Choice(STAGES), default="during", show_default=True,
              help="before, during or after the repair (or a document)")
@click.pass_context
def photo_command(ctx: click.Context, job_id: str, file: Path, caption: str, stage: str) -> None:
    """Attach a photo or document; it uploads at the next sync.

    \b
    Example: fieldsync-agent photo job-1 IMG_0142.jpg --stage before --caption "burnt capacitor"
    """
    with refusals(ctx):
        report(ctx, visit.photo(agent_of(ctx), job_id, file, caption, stage))


@main.command("sign")
@_job_argument
@click.option("--image", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the customer's signature image")
@click.option("--signer", required=True, help="the name of the person signing")
@click.pass_context
def sign_command(ctx: click.Context, job_id: str, image: Path, signer: str) -> None:
    """Capture the customer's signature of the service summary.

    Show them the summary first ('fieldsync-agent summary JOB'). The summary's SHA-256 and
    the image's are recorded; the summary itself is kept, so what was signed can always be
    shown.

    \b
    Example: fieldsync-agent sign job-1 --image signature.png --signer "M. Jones"
    """
    with refusals(ctx):
        recorded = visit.sign(agent_of(ctx), job_id, image, signer)
        record = recorded.records[0]["value"]
        report(ctx, recorded, [*summary_lines(recorded.details["summary"]),
                               f"summary sha256 {record['summary_sha256']}"])


@main.command("summary")
@_job_argument
@click.pass_context
def summary_command(ctx: click.Context, job_id: str) -> None:
    """Show the service summary to sign, and the signed one.

    \b
    Example: fieldsync-agent summary job-1
    """
    with refusals(ctx):
        agent = agent_of(ctx)
        visit.job_of(agent, job_id)
        current = visit.service_summary(agent, job_id)
        signed = visit.signed_summary(agent, job_id)
    lines = summary_lines(current)
    if signed is None:
        lines.append("not signed yet")
    else:
        who = f"signed by {signed['signature']['signer_name']} at {signed['signature']['signed_at']}"
        lines.append(f"{who}: {'matches' if signed['matches_current'] else 'DOES NOT match'} the records now")
        if not signed["matches_current"] and signed["summary"]:
            lines += ["what was signed:", *(f"  {line}" for line in summary_lines(signed["summary"]))]
    emit(ctx, {"ok": True, "job_id": job_id, "current": current, "signed": signed}, "\n".join(lines))


@main.command("complete")
@_job_argument
@click.option("--notes", default=None, help="completion notes: what was done, recommendations")
@click.pass_context
def complete_command(ctx: click.Context, job_id: str, notes: str | None) -> None:
    """Complete the job (warns if steps are open or unsigned).

    The warnings never stop the completion: it is recorded either way.

    \b
    Example: fieldsync-agent complete job-1 --notes "capacitor replaced, unit cooling"
    """
    with refusals(ctx):
        report(ctx, visit.complete(agent_of(ctx), job_id, notes))


@main.command("problem")
@_job_argument
@click.option("--reason", required=True, help="what stopped the work (missing part, no access...)")
@click.pass_context
def problem_command(ctx: click.Context, job_id: str, reason: str) -> None:
    """The work could not be finished: status problem.

    The reason goes to dispatch, who plan the return trip.

    \b
    Example: fieldsync-agent problem job-1 --reason "compressor seized, needs replacement part"
    """
    with refusals(ctx):
        report(ctx, visit.problem(agent_of(ctx), job_id, reason))


@main.command("comment")
@_job_argument
@click.argument("text", metavar="TEXT")
@click.option("--internal", is_flag=True, help="for the office only (default: visible to the customer)")
@click.pass_context
def comment_command(ctx: click.Context, job_id: str, text: str, internal: bool) -> None:
    """Comment on the job's ticket (customer or --internal).

    \b
    Example: fieldsync-agent comment job-1 "Back Thursday with the part"
    """
    with refusals(ctx):
        report(ctx, visit.comment(agent_of(ctx), job_id, text, internal))


@main.command("void")
@click.argument("entity", metavar="RECORD_ENTITY", type=click.Choice(visit.VOIDABLE))
@click.argument("record_id", metavar="RECORD_ID")
@click.option("--reason", required=True, help="why the record is wrong")
@click.pass_context
def void_command(ctx: click.Context, entity: str, record_id: str, reason: str) -> None:
    """Cancel a record made on this device.

    Records are never edited: void the wrong one and record it again. Voiding a part used
    from your van puts it back in the van's stock.

    \b
    Example: fieldsync-agent void part_usage 0190b8f2-... --reason "wrong part number"
    """
    with refusals(ctx):
        report(ctx, visit.void(agent_of(ctx), entity, record_id, reason))
