"""The hub's administration library: the devices report, moving a device to another technician
or van, conflicts and quarantine, one job's merged history as JSON, and online backup / restore.

``fieldsync-hub admin ...`` only parses and prints; the work is here. Functions return plain data
ready for JSON and raise :class:`~hub.errors.ApiError` with a hint when the administrator has
something to fix. Backup and restore take paths rather than a HubStore: a backup runs beside a
live hub (possibly another process), a restore into a hub that must not be running.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema import REGISTRY
from sync.errors import SchemaVersionMismatch
from sync.hlc import format_hlc
from sync.ops import Op, OpId, from_wire, to_wire
from sync.store import SqliteReplica, SqlReplica

from . import auth, quarantine
from .blobs import SHA256
from .db import is_url
from .errors import ApiError
from .office_records import view
from .scope import JOB_RECORDS, Scope, compute_scope
from .store import HubStore
from .timeline import job_timeline

# Counting stops here: past ten thousand ops, "far behind" is all an administrator needs to know,
# and a lost tablet must not make the report scan the whole log.
LAG_CAP = 10_000
# Ops read per device at most; past this the lag is a lower bound (a device far behind on a hub
# whose log is mostly other devices' work would otherwise cost a full scan).
SCAN_CAP = 200_000
WINDOW = 2_000
EXPORT_FORMAT = "fieldsync.job-export/1"
RESTORE_NOTE = ("devices that synced after this backup push their own work again at their next sync, photos "
                "included; changes written at the hub after it (office edits, engine output, users and devices "
                "added) are gone, but devices revoked since stay revoked")
DEVICE_FIELDS = ("node", "name", "kind", "technician_id", "van_id", "created_at", "revoked_at", "last_seen_at",
                 "last_sync_at", "clock_offset_ms", "skewed", "agent_version", "pushed", "pulled", "rejected")


# -- devices --------------------------------------------------------------------------------------
def device_nodes(store: HubStore) -> list[str]:
    """Every enrolled device's node id, in order of enrolment."""
    with store.reading():
        return [node for (node,) in store.conn.execute("SELECT node FROM devices ORDER BY created_at, node")]


def device_status(store: HubStore, node: str) -> dict[str, Any]:
    """One device as an administrator sees it: who it serves, when it was last seen and synced,
    its clock offset (``skewed`` past the hub's flag), its counts, and how far behind it is.

    ``lag`` counts the ops in its scope (or in what it last held: a job reassigned away still
    owes it the reassignment) that the hub took in after the device's acknowledged cursor, not
    authored by the device; ``lag_exact`` is false when counting stopped at LAG_CAP or SCAN_CAP.
    A pull is acknowledged by the next one, so ``unacked`` of those were in its last reply and
    are confirmed at its next sync (an agent acknowledges its last reply only then, so a device
    fully up to date shows them), and ``to_send`` (``lag - unacked``) is what it has not been
    sent yet: how far behind it really is. ``serves`` is the name of the technician or van it
    serves now (its own ``name`` is the one given at enrolment). ``entering`` counts entities new
    in its scope (their history comes first at the next pull). ``pending`` counts its ops held in
    quarantine. A revoked device is not measured (``lag`` is None). Raises ApiError 404 for an
    unknown node.
    """
    with store.reading():
        device = auth.get_device(store, node)
        row = store.conn.execute(f"SELECT {', '.join(DEVICE_FIELDS)} FROM devices WHERE node = ?", (node,)).fetchone()
        report = dict(zip(DEVICE_FIELDS, row, strict=True))
        report["skewed"] = bool(report["skewed"])
        # The quarantine is the store's own table, documented as queryable (sync/README).
        report["pending"] = store.conn.execute("SELECT count(*) FROM quarantine WHERE node = ?", (node,)).fetchone()[0]
        report.update(lag=None, lag_exact=True, unacked=0, to_send=None, entering=0)
        subject = (view(store, "technician", device.technician_id) if device.technician_id
                   else view(store, "stock_location", device.van_id or ""))
        report["serves"] = subject.get("name") if subject else None
        if device.revoked_at:
            return report
        held = Scope.loads(device.acked_scope)
        scope = compute_scope(store, device)

        def wanted(op: Op) -> bool:
            return op.node != node and (scope.contains(op.entity, op.eid) or held.contains(op.entity, op.eid))

        lag, exact = _count_after(store.replica, device.acked_cursor, wanted)
        unacked = 0
        if exact and device.offered_cursor is not None and device.offered_cursor > device.acked_cursor:
            unacked = lag - _count_after(store.replica, device.offered_cursor, wanted)[0]
        report.update(lag=lag, lag_exact=exact, unacked=unacked, to_send=lag - unacked,
                      entering=len(scope.entities - held.entities))
        return report


def _count_after(replica: SqlReplica, cursor: int, wanted: Callable[[Op], bool]) -> tuple[int, bool]:
    count = scanned = 0
    end = replica.log_end()
    while cursor < end:
        window, cursor = replica.ops_since(cursor, WINDOW)
        if not window:
            break
        scanned += len(window)
        count += sum(1 for op in window if wanted(op))
        if count > LAG_CAP:
            return LAG_CAP, False
        if scanned >= SCAN_CAP and cursor < end:
            return count, False
    return count, True


def rescope(store: HubStore, node: str, *, technician_id: str | None = None,
            van_id: str | None = None) -> dict[str, Any]:
    """Move a device to another technician (a tablet) or van (a van terminal).

    The hub then treats everything the device may hold — what it acknowledged and what it was
    last offered — as its old scope: its next pull sends the new scope's history first and then
    reports in ``left_scope`` what it must drop, and work it recorded offline on the old jobs is
    still accepted. Returns the jobs entering and leaving. Raises ApiError (400 both or neither
    given, 404 unknown device or subject, 409 revoked device or a subject of the other kind).
    """
    if bool(technician_id) == bool(van_id):
        raise ApiError(400, "give exactly one of a technician or a van", [("technician_id|van_id", "one is required")])
    kind, subject = ("technician", technician_id) if technician_id else ("van", van_id)
    entity = "technician" if kind == "technician" else "stock_location"
    with store.unit_of_work():
        device = auth.get_device(store, node)
        if device.revoked_at:
            raise ApiError(409, f"device {node} is revoked", [("node", f"revoked at {device.revoked_at}")],
                           hint="enrol a new device instead (fieldsync-hub admin enrol)")
        if kind != device.kind:
            raise ApiError(409, f"{node} is a {device.kind} device", [(f"{kind}_id", f"give --{device.kind} instead")],
                           hint="a device keeps its kind; enrol a new device for the other kind")
        if not store.replica.entity(entity, subject or ""):
            raise ApiError(404, f"no {entity} {subject!r} at this hub", [(f"{kind}_id", f"no {entity} with this id")],
                           hint=f"check the id, or create the {entity} first (office API)")
        old_subject = device.technician_id if kind == "technician" else device.van_id
        before = compute_scope(store, device)
        name = device.name
        if old_subject != subject and device.name == f"{kind} {old_subject}":
            # The name enrolment gave by default names the old subject: it follows the device.
            name = f"{kind} {subject}"
        if old_subject != subject:
            held = Scope.loads(device.acked_scope).union(Scope.loads(device.offered_scope))
            # Forget the offer: the device's next cursor is then taken as it comes, and what it
            # may hold is the union kept as acknowledged (left_scope is computed against it).
            store.conn.execute(
                "UPDATE devices SET name = ?, technician_id = ?, van_id = ?, acked_scope = ?, offered_cursor = NULL, "
                "offered_scope = NULL WHERE node = ?",
                (name, technician_id, van_id, held.dumps() if device.acked_scope or device.offered_scope else None,
                 node),
            )
        after = compute_scope(store, auth.get_device(store, node))
    return {"node": node, "name": name, "kind": kind, "from": old_subject, "to": subject,
            "changed": old_subject != subject,
            "jobs_entering": sorted(after.jobs - before.jobs), "jobs_leaving": sorted(before.jobs - after.jobs),
            "entities_entering": len(after.entities - before.entities),
            "entities_leaving": len(before.entities - after.entities)}


# -- conflicts and quarantine ---------------------------------------------------------------------
def list_conflicts(store: HubStore, entity: str | None = None, eid: str | None = None,
                   open_only: bool = False) -> list[dict[str, Any]]:
    """Conflicts the hub keeps, each with both values (the op that lost, the one that won) and
    when each was written; ``open_only`` leaves out those a later write has resolved."""
    with store.reading():
        found = store.replica.conflicts(entity, eid)
        for conflict in found:
            for key in ("op", "winner"):
                op = store.replica.get_op(_op_id(conflict[key])) if conflict[key] else None
                conflict[f"{key}_at"] = format_hlc(op.hlc) if op else None
    return [c for c in found if not (open_only and c["resolved_by"])]


def list_quarantine(store: HubStore, node: str | None = None) -> list[dict[str, Any]]:
    """Ops held in quarantine with the field and reason they were refused for, oldest first;
    only ``node``'s when given. ``waits_for_clock``: the op was stamped too far ahead of the hub's
    clock and nothing else was wrong with it — it is released (merged) at the first sync or engine
    round once the hub's clock reaches ``due_at`` (``hub/quarantine.py``); the others are refused."""
    with store.reading():
        rows = store.replica.quarantined()
    found = []
    for row in rows:
        op_node, counter, hlc, entity, eid, action, field, value, _refs = row["op"]
        if node is not None and op_node != node:
            continue
        due = _iso(quarantine.due_ms(hlc, store.config.max_ahead_ms)) if row["clock_ahead"] else None
        found.append({"id": row["id"], "node": op_node, "counter": counter, "received_at": _iso(row["received_ms"]),
                      "field": row["field"], "reason": row["reason"], "waits_for_clock": row["clock_ahead"],
                      "due_at": due, "at": format_hlc(hlc), "entity": entity, "eid": eid, "action": action,
                      "op_field": field, "value": value})
    return found


# -- one job's history ----------------------------------------------------------------------------
def export_job(store: HubStore, job_id: str, *, all_ops: bool = False) -> dict[str, Any]:
    """One job's merged history: the job, its work order and ticket, every record made on it and
    the ticket's comments (grouped by type), their conflicts, the job's timeline (``hub.timeline``,
    the same events the office API shows: who did what when, voids, blob arrival), and the ops
    the state is made of (``history_ops``: superseded lww writes are left out; ``all_ops`` reads
    the whole log for every op ever written to these entities). HLCs are formatted. Ingesting
    ``ops_of_export(doc)`` into an empty replica rebuilds the same state. Raises ApiError 404
    for an unknown job."""
    with store.reading():
        replica = store.replica
        job = replica.entity("job", job_id)
        if not job:
            raise ApiError(404, f"no job {job_id!r} at this hub", [("job_id", "no job with this id")],
                           hint="check the id (a job id, not a ticket or work order id)")
        order_id = job.get("work_order_id")
        order = replica.entity("work_order", order_id) if order_id else {}
        ticket_id = job.get("ticket_id") or order.get("ticket_id")
        keys = [("job", job_id)] + [(e, i) for e, i in (("work_order", order_id), ("ticket", ticket_id)) if i]
        records = sorted(store.links.referrers("job_id", [job_id], JOB_RECORDS))
        if ticket_id:
            records += sorted(store.links.referrers("ticket_id", [ticket_id], ("ticket_comment",)))
        wanted = keys + records
        ops = _ops_touching(replica, set(wanted)) if all_ops else replica.history_ops(wanted)
        grouped: dict[str, list[dict[str, Any]]] = {name: [] for name in (*JOB_RECORDS, "ticket_comment")}
        for entity, eid in records:
            view = replica.entity(entity, eid)
            grouped[entity].append({"eid": eid, **view, "at": format_hlc(view["hlc"]) if "hlc" in view else None})
        timeline = job_timeline(store, job_id)
        return {
            "format": EXPORT_FORMAT, "hub": replica.node, "exported_at": store.now_iso(), "job_id": job_id,
            "job": job, "work_order": {"id": order_id, **order} if order_id else None,
            "ticket": {"id": ticket_id, **replica.entity("ticket", ticket_id)} if ticket_id else None,
            "records": grouped, "conflicts": [c for key in wanted for c in replica.conflicts(*key)],
            "timeline": timeline["events"] if timeline else [],
            "ops": [_op_json(op) for op in sorted(ops, key=lambda op: op.order)],
        }


def ops_of_export(doc: dict[str, Any]) -> list[Op]:
    """The ops of an export as Op values (validated like pushed ops), ready to ingest."""
    return [from_wire([o["node"], o["counter"], o["hlc"], o["entity"], o["eid"], o["action"], o["field"],
                       o["value"], o["refs"]]) for o in doc["ops"]]


def _ops_touching(replica: SqlReplica, keys: set[tuple[str, str]]) -> list[Op]:
    found, cursor, end = [], 0, replica.log_end()
    while cursor < end:
        window, cursor = replica.ops_since(cursor, WINDOW)
        if not window:
            break
        found.extend(op for op in window if (op.entity, op.eid) in keys)
    return found


def _op_json(op: Op) -> dict[str, Any]:
    return {"id": str(op.id), "at": format_hlc(op.hlc), "node": op.node, "counter": op.counter, "hlc": op.hlc,
            "entity": op.entity, "eid": op.eid, "action": op.action, "field": op.field, "value": op.value,
            "refs": to_wire(op)[8]}


# -- backup and restore ---------------------------------------------------------------------------
def blobs_beside(file: Path) -> Path:
    """Where a backup's blob files live: ``FILE.blobs/``, laid out like the hub's blob store."""
    return file.with_name(file.name + ".blobs")


def _sqlite_only(database: Path | str, what: str) -> Path:
    """Online backup and restore are SQLite's (its backup API); a PostgreSQL hub uses its tools."""
    if is_url(database):
        raise ApiError(400, f"{what} copies a SQLite hub file; this hub runs on PostgreSQL", [("database", "a URL")],
                       hint="use PostgreSQL's own tools: pg_dump -Fc -n SCHEMA -f hub.dump (online, one snapshot) "
                            "and pg_restore -d DATABASE hub.dump (the hub stopped); copy the blob directory with it")
    return Path(database)


def backup(database: Path | str, blobs: Path, target: Path, *, force: bool = False) -> dict[str, Any]:
    """Copy the hub database to ``target`` while the hub may be running, and its verified blobs to
    ``blobs_beside(target)``.

    The copy is one step of SQLite's backup API: one read transaction, so one consistent
    snapshot holding every op committed before it began, while the hub keeps writing (WAL). It
    is written beside the target, checked with ``PRAGMA integrity_check`` and only then renamed
    into place. Raises ApiError when there is no database, the target exists (without
    ``force``), or the copy fails its check.
    """
    started = time.monotonic()
    database = _sqlite_only(database, "backup")
    if not database.exists():
        raise ApiError(404, f"no hub database at {database}", [("database", "file not found")],
                       hint="give the hub's file with --db PATH (or FIELDSYNC_DATABASE)")
    if target.resolve() == database.resolve():
        raise ApiError(400, "the backup cannot replace the database itself", [("file", "same file as --db")],
                       hint="give another file name")
    if target.exists() and not force:
        raise ApiError(409, f"{target} exists", [("file", "would be overwritten")],
                       hint="choose a new file name, or add --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _remove(partial)
    source = sqlite3.connect(str(database), timeout=30)
    copy = sqlite3.connect(str(partial))
    try:
        source.backup(copy)  # pages=-1: the whole file in one step, hence one snapshot
    finally:
        source.close()
        copy.close()
    summary = _check_copy(partial)
    _sync_file(partial)
    os.replace(partial, target)
    report = {"file": str(target), "bytes": target.stat().st_size, **summary}
    report["blobs"] = _copy_blobs(summary.pop("blob_names"), blobs, blobs_beside(target))
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def restore(source: Path, database: Path | str, blobs: Path, *, force: bool = False,
            now: datetime | None = None) -> dict[str, Any]:
    """Put a backup in place as the hub database at ``database`` (the hub must be stopped), and
    its blobs into ``blobs``.

    The backup is copied beside the database and checked (integrity, replica layout, hub tables)
    before anything is touched. An existing database is replaced only with ``force`` and is kept
    as ``<database>.bak-<UTC timestamp>`` (with its WAL folded in first). A database another
    connection has open — a running hub — is never replaced. Raises ApiError otherwise.
    """
    database = _sqlite_only(database, "restore")
    if not source.exists():
        raise ApiError(404, f"no backup at {source}", [("file", "file not found")], hint="check the path")
    if database.exists() and not force:
        raise ApiError(409, f"a hub database exists at {database}", [("database", "would be replaced")],
                       hint="add --force to replace it (the current file is kept as a .bak copy)")
    database.parent.mkdir(parents=True, exist_ok=True)
    incoming = database.with_name(database.name + ".restoring")
    _remove(incoming)
    src, copy = sqlite3.connect(str(source), timeout=30), sqlite3.connect(str(incoming))
    try:
        src.backup(copy)
    except sqlite3.DatabaseError as exc:
        copy.close()
        _remove(incoming)
        raise ApiError(422, f"{source} is not a hub backup", [("file", str(exc))], hint="give a file made by "
                       "'fieldsync-hub admin backup'") from None
    finally:
        src.close()
        copy.close()
    summary = _check_copy(incoming)
    revoked = _revocations(database) if database.exists() else {}
    summary["revocations_kept"] = _revoke(incoming, revoked)
    try:
        kept = _set_aside(database, now or datetime.now(UTC)) if database.exists() else None
    except ApiError:
        _remove(incoming)
        raise
    _sync_file(incoming)
    os.replace(incoming, database)
    blob_report = _copy_blobs(summary.pop("blob_names"), blobs_beside(source), blobs)
    return {"file": str(database), "from": str(source), "kept": kept, **summary, "blobs": blob_report,
            "note": RESTORE_NOTE}


def _check_copy(path: Path) -> dict[str, Any]:
    """Integrity, replica layout and hub tables of a fresh copy; removes it and raises if bad."""
    try:
        conn = sqlite3.connect(str(path))
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            hub_tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('devices', 'blobs')").fetchone()
        finally:
            conn.close()
        if problems != ["ok"]:
            raise ApiError(500, "the copy failed its integrity check; nothing was replaced",
                           [("integrity_check", p) for p in problems[:10]],
                           hint="run the backup again; if it fails again the source file is damaged")
        if hub_tables[0] != 2:
            raise ApiError(422, "the file is not a hub database (no devices or blobs tables)",
                           [("file", "a device replica or another SQLite file")], hint="give a hub backup")
        with SqliteReplica.open(path, None, REGISTRY) as replica:
            blob_names = [name for (name,) in replica.conn.execute("SELECT sha256 FROM blobs WHERE status = "
                                                                   "'verified' ORDER BY sha256")]
            return {"integrity": "ok", "node": replica.node, "ops": replica.op_count(), "blob_names": blob_names}
    except (ValueError, SchemaVersionMismatch, sqlite3.DatabaseError) as exc:
        _remove(path)
        raise ApiError(422, "the file is not a usable hub database; nothing was replaced", [("file", str(exc))],
                       hint="give a file made by 'fieldsync-hub admin backup'") from None
    except ApiError:
        _remove(path)
        raise


def _revocations(database: Path) -> dict[str, str]:
    """The devices revoked in the database a restore replaces, with when. A lost tablet cut off
    after the backup was made must not get its access back with the backup: those revocations
    are carried over. A database too damaged to read them from has none to give."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            return dict(conn.execute("SELECT node, revoked_at FROM devices WHERE revoked_at IS NOT NULL"))
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return {}


def _revoke(path: Path, revoked: Mapping[str, str]) -> list[str]:
    """Revoke in the database at ``path`` those of ``revoked`` it holds as not revoked; their nodes."""
    conn = sqlite3.connect(str(path))
    try:
        with conn:
            carried = [node for node, at in sorted(revoked.items()) if conn.execute(
                "UPDATE devices SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL", (at, node)).rowcount]
    finally:
        conn.close()
    return carried


def _set_aside(database: Path, now: datetime) -> str:
    """Rename the current database (and any WAL files) to a .bak name; refuses if it is open."""
    conn = sqlite3.connect(str(database), timeout=0)
    try:
        # SQLite leaves WAL mode only when no other connection has the file open: a running hub
        # makes this fail. Leaving it also folds the WAL into the file, so the .bak is whole.
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ApiError(409, f"the hub database {database} is in use", [("database", "open by another program")],
                           hint="stop the hub (fieldsync-hub serve) and run the restore again") from None
        raise ApiError(500, f"cannot set {database} aside: {exc}", [("database", str(exc))],
                       hint="check the file's permissions and the disk, then run the restore again") from None
    except sqlite3.DatabaseError:
        pass  # not a database at all: nothing to fold in, it is simply set aside
    finally:
        conn.close()
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.bak-{stamp}")
    serial = 1
    while kept.exists():
        serial += 1
        kept = database.with_name(f"{database.name}.bak-{stamp}-{serial}")
    for suffix in ("-wal", "-shm", ""):
        part = Path(str(database) + suffix)
        if part.exists():
            os.replace(part, Path(str(kept) + suffix))
    return str(kept)


def _copy_blobs(names: Iterable[str], source: Path, target: Path) -> dict[str, Any]:
    """Copy content-addressed blob files, hashing each on the way; a file already at the target
    with the right hash is kept. Missing or damaged sources are reported, not fatal: the
    database copy is still good, and the devices hold the originals until they upload again."""
    report: dict[str, Any] = {"dir": str(target), "copied": 0, "present": 0, "missing": [], "damaged": []}
    for name in names:
        if not SHA256.match(name):
            continue  # never a path: only a hex digest names a blob file
        src, dst = source / name[:2] / name, target / name[:2] / name
        if dst.exists() and _sha256_file(dst) == name:
            report["present"] += 1
            continue
        if not src.exists():
            report["missing"].append(name)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        partial = dst.with_name(name + ".partial")
        hasher = hashlib.sha256()
        with open(src, "rb") as reader, open(partial, "wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                hasher.update(block)
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
        if hasher.hexdigest() != name:
            partial.unlink()
            report["damaged"].append(name)
            continue
        os.replace(partial, dst)
        report["copied"] += 1
    return report


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _sync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _op_id(text: str) -> OpId:
    node, _, counter = text.rpartition(":")
    return OpId(node, int(counter))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
