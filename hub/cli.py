"""``fieldsync-hub``: serve the hub, and administer it (enrol devices, users, revoke, inspect).

The CLI only parses and prints; the work is done by the hub's modules, and their ApiErrors are
turned into readable messages that say what to do next. Every command that prints takes ``--json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import auth
from .config import HubConfig
from .errors import ApiError
from .store import HubStore


def _store(ctx: click.Context) -> HubStore:
    return HubStore(HubConfig.load({"database": ctx.obj["database"]} if ctx.obj.get("database") else None))


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


class HubGroup(click.Group):
    """Turns the hub's errors into messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            details = "; ".join(f"{field}: {reason}" for field, reason in exc.errors)
            message = exc.error + (f" ({details})" if details else "") + (f"\nnext: {exc.hint}" if exc.hint else "")
            raise click.ClickException(message) from None


@click.group(cls=HubGroup)
@click.option("--db", "database", type=click.Path(dir_okay=False, path_type=Path), envvar="FIELDSYNC_DATABASE",
              help="hub database file (default var/hub.db, or $FIELDSYNC_DATABASE)")
@click.pass_context
def main(ctx: click.Context, database: Path | None) -> None:
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
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, threads: int, zeroconf: bool, interfaces: tuple[str, ...]) -> None:
    """Serve the sync API, office API and dashboard over HTTP."""
    from .app import create_app
    from .server import start

    overrides = {"database": ctx.obj["database"]} if ctx.obj.get("database") else {}
    app = create_app(overrides)
    store = app.extensions["fieldsync"]
    click.echo(f"fieldsync hub {store.replica.node} on http://{host}:{port} (database {store.config.database})")
    if zeroconf:
        click.echo(f"announcing _fieldsync._tcp on {', '.join(interfaces or [host])}")
    sys.stdout.flush()
    start(app, host, port, threads=threads, zeroconf=zeroconf, interfaces=list(interfaces) or [host],
          background=False)


@main.group()
def admin() -> None:
    """Administer devices, users and the hub database."""


@admin.command()
@click.option("--technician", "technician_id", help="enrol a technician's tablet for this technician id")
@click.option("--van", "van_id", help="enrol a van-stock terminal for this van (stock location id)")
@click.option("--name", default=None, help="a name for the device (default: taken from the device)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def enrol(ctx: click.Context, technician_id: str | None, van_id: str | None, name: str | None, as_json: bool) -> None:
    """Create a one-time enrolment code for a new device."""
    if bool(technician_id) == bool(van_id):
        raise click.UsageError("give exactly one of --technician ID or --van ID")
    store = _store(ctx)
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
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def user_add(ctx: click.Context, name: str, permissions: tuple[str, ...], customer_id: str | None,
             as_json: bool) -> None:
    """Create a user and print its token (shown once)."""
    token = auth.create_user(_store(ctx), name, permissions, customer_id)
    emit({"name": name, "token": token, "permissions": sorted(permissions)}, as_json,
         f"user {name}: token {token}\n(shown once; send it as 'Authorization: Bearer <token>')")


@admin.command()
@click.argument("node")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def revoke(ctx: click.Context, node: str, as_json: bool) -> None:
    """Cut a device off at once (a lost or stolen tablet)."""
    device = auth.revoke_device(_store(ctx), node)
    emit({"node": device.node, "revoked_at": device.revoked_at}, as_json,
         f"device {device.node} ({device.name}) revoked at {device.revoked_at}; its token no longer works")


if __name__ == "__main__":
    main()
