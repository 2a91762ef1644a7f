"""enrol, sync, status, jobs, show."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import views
from ..agent import Agent
from ..discovery import discover
from ..transport import HubRefused
from . import agent_of, emit, main


@main.command()
@click.option("--code", required=True, help="the one-time code from your administrator")
@click.option("--hub", "hub_url", default=None, help="the hub's address, e.g. http://10.0.0.5:8765")
@click.option("--discover/--no-discover", "discover_", default=None,
              help="find the hub on the local network by zeroconf (default when --hub is not given)")
@click.option("--interface", "interfaces", multiple=True, default=("127.0.0.1",), show_default=True,
              help="network interface address to search for the hub (repeatable)")
@click.option("--name", default=None, help="a name for this device, e.g. 'Ana's tablet'")
@click.pass_context
def enrol(ctx: click.Context, code: str, hub_url: str | None, discover_: bool | None, interfaces: tuple[str, ...],
          name: str | None) -> None:
    """Enrol this device with the hub (needs the network once)."""
    if hub_url is not None and not discover_:
        agent = Agent.enrol(ctx.obj["home"], hub_url, code, name)
    else:
        agent = _enrol_with_a_discovered_hub(ctx, code, name, list(interfaces))
    ctx.obj["agent"] = agent
    config = agent.config
    subject = f"technician {config.technician_id}" if config.kind == "technician" else f"van {config.van_id}"
    emit(ctx, {"node": config.node, "hub": config.hub_url, "kind": config.kind,
               "technician_id": config.technician_id, "van_id": config.van_id, "home": str(ctx.obj["home"])},
         f"enrolled as {config.node} ({subject}) with hub {config.hub_node} at {config.hub_url}\n"
         f"next: 'fieldsync-agent sync' to fetch your jobs")


def _enrol_with_a_discovered_hub(ctx: click.Context, code: str, name: str | None, interfaces: list[str]) -> Agent:
    """Several hubs may answer on a network (a depot and a test bench): the code was issued by
    exactly one of them, so try each until one accepts it."""
    found = discover(interfaces, timeout_s=3.0, first=False) or discover(interfaces, timeout_s=5.0)
    if not found:
        raise click.ClickException(
            f"no hub answered on {', '.join(interfaces)}\n"
            "next: give the hub's address with --hub URL, or check you are on the depot network")
    refusals = []
    for hub in found:
        try:
            agent = Agent.enrol(ctx.obj["home"], hub["url"], code, name)
        except HubRefused as exc:
            if exc.status != 403:
                raise
            refusals.append(f"{hub['url']}: {exc.message}")
            continue
        click.echo(f"found hub {hub['node']} at {hub['url']}", err=True)
        return agent
    raise click.ClickException("no hub on the network accepted this code:\n  " + "\n  ".join(refusals) +
                               "\nnext: check the code, or ask your administrator for a new one")


@main.command()
@click.pass_context
def sync(ctx: click.Context) -> None:
    """Push your work, upload photos, fetch what is new. Safe to interrupt and run again."""
    agent = agent_of(ctx)
    quiet = ctx.find_root().obj["json"] or not sys.stderr.isatty()
    bars: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if quiet:
            return
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = click.progressbar(length=max(total, done, 1), label=f"{phase:>6}", file=sys.stderr)
        # A total is an estimate (a pull knows its size only at its last page): it may shrink.
        bar.length = max(total, done, 1)
        bar.update(done - bar.pos)

    try:
        summary = agent.sync(progress)
    finally:
        for bar in bars.values():
            bar.render_finish()
    status = agent.status()
    lines = [f"pushed {summary.pushed} (accepted {summary.accepted}), pulled {summary.pulled}, "
             f"uploaded {summary.blobs_uploaded} file(s); clock offset {summary.clock_offset_ms} ms"]
    for refusal in summary.rejected:
        lines.append(f"  refused by the hub: op {refusal['id'][0]}:{refusal['id'][1]} — {refusal['field']}: "
                     f"{refusal['reason']} (kept at the hub for review)")
    for error in summary.blob_errors:
        lines.append(f"  photo {error['sha256'][:12]} not uploaded: {error['error']}")
    jobs_gone = [eid for entity, eid in summary.left_scope if entity == "job"]
    for job in jobs_gone:
        lines.append(f"  job {job} is no longer yours (reassigned): it left this device; "
                     "what you recorded on it went to the hub")
    if len(summary.left_scope) > len(jobs_gone):
        lines.append(f"  {len(summary.left_scope) - len(jobs_gone)} record(s) of work no longer yours left this device")
    for conflict in summary.conflicts:
        lines.append(f"  conflict on {conflict['entity']} {conflict['eid']}: {views.conflict_line(conflict)}")
    if summary.moved_to:
        serves = summary.moved_to
        whom = f"technician {serves['technician_id']}" if serves["technician_id"] else f"van {serves['van_id']}"
        lines.append(f"  the hub moved this device: it now serves {whom}, whose jobs are listed under 'jobs'")
    if summary.blobs_rechecked:
        lines.append(f"  the hub was restored from a backup: {summary.blobs_rechecked} file(s) sent before "
                     "were checked again, and sent again where it had lost them")
    # Files: photos, documents, and a signature's image with the summary it signed.
    lines.append(f"still waiting: {status['pending_ops']} op(s), {status['pending_blobs']} file(s)")
    emit(ctx, {"summary": summary.__dict__, "status": status}, "\n".join(lines))


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """What is recorded here, what waits for a network, conflicts, clock offset to the hub."""
    state = agent_of(ctx).status()
    text = (f"{state['device']} ({state['node']}, {state['kind']}) — hub {state['hub']}\n"
            f"recorded {state['recorded_ops']} op(s); waiting to sync: {state['pending_ops']} op(s), "
            f"{state['pending_blobs']} file(s) ({state['pending_blob_bytes']} bytes)\n"
            f"last sync: {state['last_sync_at'] or 'never'}; clock offset to hub: {state['clock_offset_ms']} ms; "
            f"conflicts kept: {state['conflicts']}")
    if state["cut_off"]:
        text += (f"\nTHE HUB REFUSES THIS DEVICE: {state['cut_off']} — the {state['pending_ops']} op(s) waiting here "
                 "cannot reach it; tell your administrator, who can enrol a new device")
    if state["clock_note"]:
        text += f"\n{state['clock_note']}"
    for refusal in state["refused_by_hub"]:
        # Stamped too far ahead of the hub's clock: merged there once its clock catches up.
        said = "held by the hub until its clock catches up" if refusal["waits_for_hub_clock"] else "refused by the hub"
        text += f"\n{said}: {refusal['id']} — {refusal['field']}: {refusal['reason']}"
    emit(ctx, state, text)


@main.command()
@click.pass_context
def jobs(ctx: click.Context) -> None:
    """Your jobs, from the local copy (works offline)."""
    found = views.my_jobs(agent_of(ctx))
    lines = [f"{j['id']:<14} {j['status']:<10} {j['priority'] or '-':<8} {j['title'] or '-'} — "
             f"{j['customer'] or '?'}, {j['address'] or '?'}" for j in found]
    emit(ctx, found, "\n".join(lines) if lines else "no jobs yet — run 'fieldsync-agent sync' when online")


@main.command()
@click.argument("job_id")
@click.pass_context
def show(ctx: click.Context, job_id: str) -> None:
    """One job card: work, customer, site, asset history, SLA targets, checklist, records."""
    try:
        card = views.job_card(agent_of(ctx), job_id)
    except KeyError:
        raise click.ClickException(
            f"no job {job_id} on this device\nnext: 'fieldsync-agent jobs' lists yours") from None
    ticket, site, asset, sla = card["ticket"], card["site"], card["asset"], card["sla"]
    lines = [
        f"job {job_id}: {card['job'].get('status', 'scheduled')} — {ticket.get('title', '-')} "
        f"[{ticket.get('priority', '-')}]",
        f"customer: {card['customer'].get('name', '-')}; site: {site.get('address', '-')}",
        f"work: {card['work_order'].get('scope', '-')}",
    ]
    if sla:
        lines.append(views.sla_summary(sla))
        lines += [f"  SLA note: {problem}" for problem in sla.get("problems", [])]
    if asset:
        visited = [h for h in asset["history"] if not h["open"]]
        lines.append(f"asset: {asset.get('product', '-')} serial {asset.get('serial', '-')}; "
                     f"{len(visited)} earlier visit(s)")
        for h in asset["history"]:
            parts = ", ".join(f"{p['qty']} x {p['sku']}" for p in h["parts"]) or "no parts"
            said = f"still open ({h['status']})" if h["open"] else f"{h['status']}: {h['notes'] or 'no notes'}"
            lines.append(f"  {h['job']}: {h['title'] or '-'} — {said}; {parts}")
    for step in card["checklist"]:
        lines.append(f"  [{'x' if step['done'] else ' '}] {step['step_id']}: {step['text']}")
    for kind, records in card["records"].items():
        live = [r for r in records if not r["voided"]]
        if live:
            lines.append(f"{kind}: {len(live)}")
    lines += [f"conflict kept: {views.conflict_line(conflict)}" for conflict in card["conflicts"]]
    emit(ctx, card, "\n".join(lines))
