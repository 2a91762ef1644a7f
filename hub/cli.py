"""``fieldsync-hub``: serve the hub, and administer it (enrol devices, users, revoke, inspect).

The CLI only parses and prints; the work is done by the hub's modules, and their ApiErrors are
turned into readable messages that say what to do next. Every command that prints takes ``--json``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from . import admin as admin_lib
from . import auth, db
from .config import ConfigError, HubConfig
from .db import describe
from .errors import ApiError, body
from .store import HubStore


def _store(ctx: click.Context) -> HubStore:
    """The hub store, created if there is none yet (the first user is made before the hub serves)."""
    store = HubStore(HubConfig.load({"database": ctx.obj["database"]} if ctx.obj.get("database") else None))
    ctx.call_on_close(store.close)
    return store


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


class Failed(click.ClickException):
    """What went wrong and what to do next — with the command's ``--json``, the API's error shape
    ``{"ok": false, "error", "errors": [{"field", "reason"}], "hint", "status"}`` on stdout."""

    def __init__(self, error: ApiError, as_json: bool) -> None:
        details = "; ".join(f"{field}: {reason}" for field, reason in error.errors)
        super().__init__(error.error + (f" ({details})" if details else "") +
                         (f"\nnext: {error.hint}" if error.hint else ""))
        self.api_error, self.as_json = error, as_json

    def show(self, file: Any = None) -> None:
        if not self.as_json:
            super().show(file)
            return
        error = self.api_error
        click.echo(json.dumps(body(self.exit_code, error.error, error.errors, error.hint or "")))


class HubGroup(click.Group):
    """Turns the hub's errors into messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise Failed(exc, isinstance(ctx.obj, dict) and bool(ctx.obj.get("json"))) from None
        except ConfigError as exc:
            error = ApiError(400, "a hub setting is not valid", [(exc.variable, exc.reason)],
                             hint=f"set {exc.variable} to a valid value (or unset it for the default) and run "
                                  "the command again")
            raise Failed(error, isinstance(ctx.obj, dict) and bool(ctx.obj.get("json"))) from None


def json_flag(help: str = "print JSON") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command's ``--json``: its output as JSON, and its failure too (see :class:`Failed`)."""
    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value and isinstance(ctx.obj, dict):
            ctx.obj["json"] = True  # the one dict every context of this invocation shares
        return value

    return click.option("--json", "as_json", is_flag=True, help=help, callback=remember)


@click.group(cls=HubGroup)
@click.option("--db", "database", envvar="FIELDSYNC_DATABASE",
              help="hub database: a SQLite file (default var/hub.db) or a PostgreSQL URL "
                   "(postgresql://HOST/DB?options=-csearch_path%3DSCHEMA); or $FIELDSYNC_DATABASE")
@click.pass_context
def main(ctx: click.Context, database: str | None) -> None:
    """The FieldSync hub: merges every device's work and drives the business from it."""
    ctx.ensure_object(dict)
    ctx.obj["database"] = database


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8765, show_default=True, type=int, help="port (0 picks a free one)")
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--zeroconf/--no-zeroconf", default=True, show_default=True,
              help="announce the hub as _fieldsync._tcp on the --interface addresses")
@click.option("--interface", "interfaces", multiple=True,
              help="address to announce on by zeroconf (repeatable; default: the --host address)")
@click.option("--engines-interval", default=30.0, show_default=True, type=float, envvar="FIELDSYNC_ENGINES_INTERVAL_S",
              help="seconds between rounds of the business engines (0: only when asked, POST /api/v1/engines/run)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes (more than 1 needs the hub on PostgreSQL; engine rounds run in one)")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, threads: int, zeroconf: bool, interfaces: tuple[str, ...],
          engines_interval: float, workers: int) -> None:
    """Serve the sync API, the office API and the customer portal over HTTP (routes: /api/v1/openapi.json)."""
    from .app import create_app
    from .server import start

    overrides: dict[str, Any] = {"engines_interval_s": engines_interval}
    if ctx.obj.get("database"):
        overrides["database"] = ctx.obj["database"]
    if workers > 1:
        from .workers import serve as serve_workers

        serve_workers(overrides, host, port, workers, zeroconf=zeroconf, interfaces=list(interfaces) or [host])
        return
    app = create_app(overrides)
    store = app.extensions["fieldsync"]
    running = start(app, host, port, threads=threads, zeroconf=zeroconf, interfaces=list(interfaces) or [host])
    stopping = threading.Event()
    # Stop cleanly on SIGTERM as on Ctrl-C: the database is closed and the announcement withdrawn.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    click.echo(f"fieldsync hub {store.replica.node} listening on {running.url} "
               f"(database {describe(store.config.database)})")
    if zeroconf:
        click.echo(f"announcing _fieldsync._tcp on {', '.join(interfaces or [host])}")
    sys.stdout.flush()
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        click.echo("hub stopped")


@main.group()
def admin() -> None:
    """Administer devices, users and the hub database."""


@admin.command()
@click.option("--technician", "technician_id", help="enrol a technician's tablet for this technician id")
@click.option("--van", "van_id", help="enrol a van-stock terminal for this van (stock location id)")
@click.option("--name", default=None, help="a name for the device (default: taken from the device)")
@json_flag()
@click.pass_context
def enrol(ctx: click.Context, technician_id: str | None, van_id: str | None, name: str | None, as_json: bool) -> None:
    """Create a one-time enrolment code for a new device."""
    if bool(technician_id) == bool(van_id):
        raise click.UsageError("give exactly one of --technician ID or --van ID")
    store = _existing_store(ctx)
    kind, subject = ("technician", technician_id) if technician_id else ("van", van_id)
    assert subject is not None
    code = auth.create_enrolment_code(store, kind, subject, name or f"{kind} {subject}")
    hours = store.config.enrolment_ttl_s // 3600
    emit({"code": code, "kind": kind, "subject": subject, "valid_hours": hours}, as_json,
         f"enrolment code for {kind} {subject}: {code}\n"
         f"valid {hours} h, for one device: on the device run\n"
         f"  fieldsync-agent enrol --code {code} [--hub URL]")


@admin.group()
def user() -> None:
    """Office and portal users."""


@user.command("add")
@click.argument("name")
@click.option("--perm", "permissions", multiple=True, required=True,
              type=click.Choice(auth.PERMISSIONS), help="a permission to grant (repeatable)")
@click.option("--customer", "customer_id", default=None, help="a portal user: sees only this customer's requests")
@json_flag()
@click.pass_context
def user_add(ctx: click.Context, name: str, permissions: tuple[str, ...], customer_id: str | None,
             as_json: bool) -> None:
    """Create a user and print its token (shown once)."""
    token = auth.create_user(_store(ctx), name, permissions, customer_id)
    emit({"name": name, "token": token, "permissions": sorted(permissions)}, as_json,
         f"user {name}: token {token}\n(shown once; send it as 'Authorization: Bearer <token>')")


@user.command("list")
@json_flag()
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """Every user: permissions, portal customer, created, revoked."""
    users = auth.list_users(_existing_store(ctx))
    lines = [f"{'NAME':<20} {'CUSTOMER':<14} {'CREATED':<20} {'REVOKED':<20} PERMISSIONS"]
    lines += [f"{u['name']:<20} {u['customer_id'] or '-':<14} {u['created_at'][:19]:<20} "
              f"{(u['revoked_at'] or '-')[:19]:<20} {' '.join(u['permissions'])}" for u in users]
    emit(users, as_json, "\n".join(lines) if users else "no users yet: 'fieldsync-hub admin user add NAME --perm ...'")


@user.command("revoke")
@click.argument("name")
@json_flag()
@click.pass_context
def user_revoke(ctx: click.Context, name: str, as_json: bool) -> None:
    """Stop a user's token working at once (a leaked token, someone who left)."""
    revoked = auth.revoke_user(_existing_store(ctx), name)
    emit(revoked, as_json, f"user {name} revoked at {revoked['revoked_at']}; its token no longer works "
                           f"(a new one: 'fieldsync-hub admin user add' under another name)")


@admin.command()
@click.argument("node")
@json_flag()
@click.pass_context
def revoke(ctx: click.Context, node: str, as_json: bool) -> None:
    """Cut a device off at once (a lost or stolen tablet)."""
    device = auth.revoke_device(_existing_store(ctx), node)
    emit({"node": device.node, "revoked_at": device.revoked_at}, as_json,
         f"device {device.node} ({device.name}) revoked at {device.revoked_at}; its token no longer works")


# -- admin: devices, scope, conflicts, quarantine, export, backup (the work is in hub/admin.py) --------
PROGRESS_AFTER = 20  # devices; below this the report is quick enough to need no progress bar


def _config(ctx: click.Context) -> HubConfig:
    return HubConfig.load({"database": ctx.obj["database"]} if ctx.obj.get("database") else None)


def _existing_store(ctx: click.Context) -> HubStore:
    """The hub store, refusing to create an empty hub where an administrator mistyped a path."""
    config = _config(ctx)
    if not db.exists(config.database):
        raise ApiError(404, f"no hub database at {describe(config.database)}", [("database", "not found")],
                       hint="give the hub's file or URL with --db (or FIELDSYNC_DATABASE)")
    store = HubStore(config)
    ctx.call_on_close(store.close)
    return store


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _ago(iso: str | None, now_ms: int) -> str:
    if not iso:
        return "never"
    seconds = max(0, now_ms / 1000 - datetime.fromisoformat(iso).timestamp())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now" if seconds < 5 else f"{int(seconds)}s ago"


def _offset(ms: int | None, skewed: bool) -> str:
    if ms is None:
        return "-"
    text = f"{ms:+d}ms" if abs(ms) < 1000 else f"{ms / 1000:+.1f}s" if abs(ms) < 60_000 else f"{ms / 60_000:+.1f}m"
    return text + (" SKEWED" if skewed else "")


def _lag(device: dict[str, Any]) -> str:
    """Ops the device has not been sent yet; those sent in its last reply, which it confirms at
    its next sync, beside them ("+5 unconfirmed"): a device up to date reads 0."""
    if device["lag"] is None:
        return "-"
    if not device["lag_exact"]:
        return f">{device['lag']}" if device["lag"] >= admin_lib.LAG_CAP else f">={device['lag']}"
    if device["unacked"]:
        return f"{device['to_send']} (+{device['unacked']} unconfirmed)"
    return str(device["lag"])


def _serves(device: dict[str, Any]) -> str:
    subject = device["technician_id"] or device["van_id"] or "-"
    return f"{subject} ({device['serves'][:24]})" if device.get("serves") else subject


@admin.command()
@json_flag("print JSON (every field, full timestamps)")
@click.pass_context
def devices(ctx: click.Context, as_json: bool) -> None:
    """Every device: who it serves, when last seen and synced, clock offset, counts and lag.

    FOR is the technician or van the device serves now, with its name (NAME is the device's own,
    given at enrolment). LAG counts ops in the device's scope that it has not been sent yet;
    "+N unconfirmed" were sent in its last reply, which the device acknowledges at its next sync
    (with --json, lag counts both and to_send the first). PENDING counts its ops held in
    quarantine (see 'admin quarantine --node NODE').
    """
    store = _existing_store(ctx)
    nodes = admin_lib.device_nodes(store)
    if len(nodes) > PROGRESS_AFTER:
        with click.progressbar(nodes, label="measuring lag", file=sys.stderr) as bar:
            report = [admin_lib.device_status(store, node) for node in bar]
    else:
        report = [admin_lib.device_status(store, node) for node in nodes]
    if as_json:
        emit(report, True, "")
        return
    if not report:
        click.echo("no devices enrolled yet; create a code with: fieldsync-hub admin enrol --technician ID")
        return
    now = store.now_ms()
    rows = [[d["node"], d["name"][:24], d["kind"], _serves(d), _ago(d["last_seen_at"], now),
             _ago(d["last_sync_at"], now), _offset(d["clock_offset_ms"], d["skewed"]),
             f"{d['pushed']}/{d['pulled']}/{d['rejected']}", _lag(d), d["pending"],
             "REVOKED" if d["revoked_at"] else "ok"] for d in report]
    click.echo(_table(["NODE", "NAME", "KIND", "FOR", "LAST SEEN", "LAST SYNC", "CLOCK", "PUSH/PULL/REJ", "LAG",
                       "PENDING", "STATE"], rows))
    skewed = sum(d["skewed"] for d in report)
    revoked = sum(bool(d["revoked_at"]) for d in report)
    click.echo(f"\n{len(report)} device(s), {skewed} with a skewed clock, {revoked} revoked")


@admin.command()
@click.argument("node")
@click.option("--technician", "technician_id", help="move a technician tablet to this technician")
@click.option("--van", "van_id", help="move a van-stock terminal to this van (stock location id)")
@json_flag()
@click.pass_context
def rescope(ctx: click.Context, node: str, technician_id: str | None, van_id: str | None, as_json: bool) -> None:
    """Move a device to another technician or van.

    At its next sync the device receives the new scope's jobs with their history and is told to
    drop the jobs it no longer serves; work it recorded offline on those is still accepted.
    """
    if bool(technician_id) == bool(van_id):
        raise click.UsageError("give exactly one of --technician ID or --van ID")
    moved = admin_lib.rescope(_existing_store(ctx), node, technician_id=technician_id, van_id=van_id)
    if not moved["changed"]:
        emit(moved, as_json, f"device {node} already serves {moved['kind']} {moved['to']}; nothing changed")
        return
    emit(moved, as_json,
         f"device {node} ({moved['name']}) moved from {moved['kind']} {moved['from']} to {moved['to']}\n"
         f"  at its next sync it receives {len(moved['jobs_entering'])} job(s): "
         f"{', '.join(moved['jobs_entering']) or '-'}\n"
         f"  and drops {len(moved['jobs_leaving'])} job(s): {', '.join(moved['jobs_leaving']) or '-'}")


@admin.command()
@click.option("--entity", help="only this entity type (job, ticket, ...)")
@click.option("--eid", help="only this entity id")
@click.option("--open", "open_only", is_flag=True, help="leave out conflicts a later write has resolved")
@json_flag()
@click.pass_context
def conflicts(ctx: click.Context, entity: str | None, eid: str | None, open_only: bool, as_json: bool) -> None:
    """Conflicts the hub kept, with both values: the write that lost and the one that won."""
    found = admin_lib.list_conflicts(_existing_store(ctx), entity, eid, open_only)
    if as_json or not found:
        emit(found, as_json, "no conflicts kept" + (" for that filter" if entity or eid or open_only else ""))
        return
    lines = []
    for c in found:
        state = f"resolved by {c['resolved_by']}" if c["resolved_by"] else "open"
        lines += [f"{c['entity']} {c['eid']} {c['field'] or '(record)'}  [{c['kind']}, {state}]",
                  f"  lost  {c['op']:<16} {c['op_at'] or '-':<28} {json.dumps(c['value'], default=str)}",
                  f"  won   {c['winner'] or '-':<16} {c['winner_at'] or '-':<28} "
                  f"{json.dumps(c['winner_value'], default=str)}",
                  f"  {c['detail']}", ""]
    click.echo("\n".join(lines) + f"{len(found)} conflict(s)")


@admin.command()
@click.option("--node", help="only ops from this device")
@json_flag()
@click.pass_context
def quarantine(ctx: click.Context, node: str | None, as_json: bool) -> None:
    """Ops the hub keeps in quarantine, with the field and the reason.

    STATE says "refused" for an op that broke a rule (it stays), or "waits for clock" with the
    time from which an op stamped too far ahead of the hub's clock lies within the bound: it is
    merged then, at the next sync or engine round, and leaves this list.
    """
    found = admin_lib.list_quarantine(_existing_store(ctx), node)
    if as_json or not found:
        emit(found, as_json, "nothing in quarantine" + (f" from {node}" if node else ""))
        return
    rows = [[q["id"], q["received_at"][:19], f"{q['action']} {q['entity']} {q['eid']} {q['op_field']}".rstrip(),
             f"waits for clock until {q['due_at'][:19]}" if q["waits_for_clock"] else "refused",
             q["field"], q["reason"]] for q in found]
    click.echo(_table(["OP", "RECEIVED", "CHANGE", "STATE", "FIELD", "REASON"], rows))
    waiting = sum(q["waits_for_clock"] for q in found)
    click.echo(f"\n{len(found)} op(s) in quarantine: {len(found) - waiting} refused, {waiting} waiting for the hub's "
               "clock; the device was told each reason when it pushed")


@admin.command("export-job")
@click.argument("job_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to this file (default: stdout)")
@click.option("--all-ops", is_flag=True, help="every op ever written to these entities, not only those the "
              "current state is made of (reads the whole log)")
@json_flag("with --out: print the summary as JSON")
@click.pass_context
def export_job(ctx: click.Context, job_id: str, out: Path | None, all_ops: bool, as_json: bool) -> None:
    """One job's merged history as JSON: job, work order, ticket, records, and the ops behind them."""
    doc = admin_lib.export_job(_existing_store(ctx), job_id, all_ops=all_ops)
    text = json.dumps(doc, indent=2, default=str)
    if out is None:
        click.echo(text)
        return
    out.write_text(text + "\n")
    records = sum(len(group) for group in doc["records"].values())
    summary = {"job_id": job_id, "file": str(out), "records": records, "events": len(doc["timeline"]),
               "ops": len(doc["ops"]), "conflicts": len(doc["conflicts"])}
    emit(summary, as_json, f"job {job_id}: {records} record(s), {len(doc['timeline'])} timeline event(s), "
                           f"{len(doc['ops'])} op(s), {len(doc['conflicts'])} conflict(s) written to {out}")


def _blob_lines(blobs: dict[str, Any]) -> str:
    text = f"blobs: {blobs['copied']} copied, {blobs['present']} already there ({blobs['dir']})"
    if blobs["missing"] or blobs["damaged"]:
        text += (f"\nwarning: {len(blobs['missing'])} blob file(s) missing and {len(blobs['damaged'])} damaged at "
                 f"the source; the devices upload them again if they still hold them")
    return text


@admin.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace FILE if it exists")
@json_flag()
@click.pass_context
def backup(ctx: click.Context, file: Path, force: bool, as_json: bool) -> None:
    """Copy the hub database to FILE (safe while the hub runs) and its blobs to FILE.blobs/."""
    config = _config(ctx)
    report = admin_lib.backup(config.database, config.blobs, file, force=force)
    emit(report, as_json, f"backup of {describe(config.database)} written to {file}: {report['ops']} ops, "
                          f"{report['bytes'] / 1e6:.1f} MB, integrity {report['integrity']}, "
                          f"{report['seconds']:.1f}s\n" + _blob_lines(report["blobs"]))


@admin.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace an existing hub database (kept as <db>.bak-<time>)")
@json_flag()
@click.pass_context
def restore(ctx: click.Context, file: Path, force: bool, as_json: bool) -> None:
    """Put the backup FILE (and FILE.blobs/) in place as the hub database. Stop the hub first."""
    config = _config(ctx)
    report = admin_lib.restore(file, config.database, config.blobs, force=force)
    kept = f"\nprevious database kept as {report['kept']}" if report["kept"] else ""
    if report["revocations_kept"]:
        kept += f"\nstill revoked (revoked after the backup): {', '.join(report['revocations_kept'])}"
    emit(report, as_json, f"restored {file} into {config.database}: {report['ops']} ops, integrity "
                          f"{report['integrity']}{kept}\n" + _blob_lines(report["blobs"]) +
                          f"\nnote: {report['note']}\nstart the hub again: fieldsync-hub serve")


if __name__ == "__main__":
    main()
