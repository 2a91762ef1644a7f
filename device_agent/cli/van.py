"""The van's stock: ``van stock`` anywhere; ``van receive-kit``, ``van count`` and ``van hand-out``
on the van's terminal. Thin: parse, call ``device_agent.van``, print. Works with no network."""

from __future__ import annotations

import click

from .. import van as stock_lib
from . import agent_of, emit, main
from .visit import refusals, report


@main.group("van")
def van_group() -> None:
    """The van's stock: view, receive kits, count, hand out.

    'van stock' works on any device of the van; the others on the van's terminal.
    """


@van_group.command("stock")
@click.option("--van", "van_id", default=None, help="another van than this device's own")
@click.pass_context
def stock_command(ctx: click.Context, van_id: str | None) -> None:
    """On-hand per part in the van.

    From this device's copy, its own unsynced moves included.

    \b
    Example: fieldsync-agent van stock
    """
    with refusals(ctx):
        agent = agent_of(ctx)
        rows = stock_lib.stock(agent, van_id)
        van = van_id or stock_lib.own_van(agent)
    lines = [f"{r['sku']:<14} {r['on_hand']:>8} {r['unit']:<4} {r['name'] or ''}"
             + ("  (below zero: count it)" if r["on_hand"].startswith("-") else "") for r in rows]
    text = "\n".join([f"stock of {van}:", *lines]) if rows else (
        f"no stock of {van} on this device — 'fieldsync-agent sync' fetches it")
    emit(ctx, {"ok": True, "van": van, "stock": rows}, text)


@van_group.command("receive-kit")
@click.argument("lines", metavar="[SKU=QTY]...", nargs=-1)
@click.option("--kit", "kit_id", default=None, help="the kit's id from the warehouse pick")
@click.pass_context
def receive_kit_command(ctx: click.Context, lines: tuple[str, ...], kit_id: str | None) -> None:
    """Parts arrive in the van: each SKU=QTY is added to its stock.

    With --kit and no SKU=QTY, the lines of the kit the warehouse sent are received, and the kit
    is marked received at the hub.

    \b
    Examples: fieldsync-agent van receive-kit CAP-45=5 FLT-20=2
              fieldsync-agent van receive-kit --kit 01a21c57-...
    """
    with refusals(ctx):
        parsed = stock_lib.parse_lines(lines) if lines else []
        report(ctx, stock_lib.receive_kit(agent_of(ctx), parsed, kit_id))


@van_group.command("count")
@click.argument("sku", metavar="SKU")
@click.argument("qty", metavar="QTY")
@click.pass_context
def count_command(ctx: click.Context, sku: str, qty: str) -> None:
    """Record a physical count; the stock is set to it.

    Parts a tablet used before the count and syncs later are not taken off again: the hub
    settles the count where it was taken.

    \b
    Example: fieldsync-agent van count CAP-45 4
    """
    with refusals(ctx):
        report(ctx, stock_lib.count(agent_of(ctx), sku, qty))


@van_group.command("hand-out")
@click.argument("sku", metavar="SKU")
@click.argument("qty", metavar="QTY")
@click.option("--technician", "technician_id", required=True, help="who takes the parts")
@click.option("--job", "job_id", default=None, help="the job they are for")
@click.pass_context
def hand_out_command(ctx: click.Context, sku: str, qty: str, technician_id: str, job_id: str | None) -> None:
    """Hand parts out of the van to a technician.

    Handing out more than the van shows warns and still records.

    \b
    Example: fieldsync-agent van hand-out CAP-45 1 --technician tech-1 --job job-1
    """
    with refusals(ctx):
        report(ctx, stock_lib.hand_out(agent_of(ctx), sku, qty, technician_id, job_id))
