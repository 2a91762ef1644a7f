"""The technician's agent: a local replica that records everything offline and syncs with the hub.

An agent lives in a home folder: ``agent.json`` (hub address, node id, token — readable by the
owner only), ``device.db`` (the SQLite replica and the agent's own tables), ``blobs/`` (photos
and signatures, content-addressed) and ``pull-spool/`` (pull replies between their arrival and
their commit; see device_agent/spool.py). Every action is committed to ``device.db`` (WAL,
``synchronous=FULL``) before the call returns; syncing never asks anyone to resolve anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from schema import REGISTRY
from sync.errors import SyncError
from sync.ops import Op, OpId, from_wire, to_wire
from sync.protocol import MAX_PULL, PROTOCOL_VERSION
from sync.store import SqliteReplica

from . import clock
from .clock import Anchor, Elapsed, ElapsedReading, Estimate, no_elapsed, system_elapsed, wall_clock_ms
from .spool import Spool
from .transport import HttpTransport, HubRefused, HubTransport, with_retries

VERSION = "0.1.0"
BLOB_CHUNK = 256 * 1024
PUSH_BATCH = 500
# Pages as large as the hub allows: a first sync of a big scope takes few round trips.
PULL_BATCH = MAX_PULL

_AGENT_DDL = (
    "CREATE TABLE IF NOT EXISTS agent_state (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID",
    # hub_received: the bytes of the file the hub last said it holds (an upload cut midway goes on
    # from there), so what still waits is known without asking it.
    "CREATE TABLE IF NOT EXISTS blob_queue (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, mime TEXT, "
    "added_at TEXT NOT NULL, uploaded_at TEXT, hub_received INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS hub_rejections (node TEXT NOT NULL, counter INTEGER NOT NULL, field TEXT, "
    "reason TEXT, at TEXT, clock_ahead INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (node, counter))",
    "CREATE TABLE IF NOT EXISTS left_scope (entity TEXT NOT NULL, eid TEXT NOT NULL, at TEXT NOT NULL, "
    "PRIMARY KEY (entity, eid))",
)

_REJECTION_COLUMNS = "(node, counter, field, reason, at, clock_ahead) VALUES (?,?,?,?,?,?)"


class NotEnrolled(SyncError):
    """The home folder holds no enrolled agent."""

    def __init__(self, home: Path) -> None:
        super().__init__(f"no enrolled agent in {home}",
                         hint="run 'fieldsync-agent enrol --code CODE [--hub URL]' first")


@dataclass
class AgentConfig:
    hub_url: str
    node: str
    token: str
    kind: str
    technician_id: str | None
    van_id: str | None
    hub_node: str
    device_name: str
    zeroconf_interfaces: list[str] = field(default_factory=lambda: ["127.0.0.1"])

    @classmethod
    def read(cls, home: Path) -> AgentConfig:
        path = home / "agent.json"
        if not path.exists():
            raise NotEnrolled(home)
        return cls(**json.loads(path.read_text()))

    def write(self, home: Path) -> None:
        path = home / "agent.json"
        # The token is a credential: readable by the device's owner only.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle, indent=2)


@dataclass
class SyncSummary:
    pushed: int = 0
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    blobs_uploaded: int = 0
    blob_errors: list[dict[str, str]] = field(default_factory=list)
    pulled: int = 0
    left_scope: list[list[str]] = field(default_factory=list)
    clock_offset_ms: int = 0
    retries: int = 0
    # Set when the hub says this device now serves another technician or van (admin rescope).
    moved_to: dict[str, str | None] | None = None
    # Photos marked sent that the hub was asked about again: it had lost work of this device.
    blobs_rechecked: int = 0
    # Conflicts this sync brought: work here or at the hub that the merge kept but did not apply
    # (a job completed offline that the office had cancelled), each with both values and why.
    conflicts: list[dict[str, Any]] = field(default_factory=list)


Progress = Callable[[str, int, int], None]  # (phase, done, total)


class Agent:
    def __init__(self, home: Path, config: AgentConfig, transport: HubTransport | None = None,
                 wall: Callable[[], int] | None = None, sleep: Callable[[float], None] = time.sleep,
                 attempts: int = 5, elapsed: Elapsed | None = None) -> None:
        """``wall`` and ``elapsed`` are the device's clocks (device_agent/clock.py), the system's
        by default. An elapsed clock is comparable only with the wall clock it runs beside: a
        caller bringing its own wall clock and no elapsed clock gets none."""
        self.home = home
        self.config = config
        self.transport = transport or HttpTransport(config.hub_url)
        self.wall = wall or wall_clock_ms
        self.elapsed = elapsed or (system_elapsed if wall is None else no_elapsed)
        self.sleep = sleep
        self.attempts = attempts
        self.replica = SqliteReplica.open(home / "device.db", config.node, REGISTRY)
        with self.replica.transaction():
            for statement in _AGENT_DDL:
                self.replica.conn.execute(statement)
            # Columns added since the first agents: a home folder of an older one gets them here.
            for table, column in (("hub_rejections", "clock_ahead"), ("blob_queue", "hub_received")):
                if column not in {row[1] for row in self.replica.conn.execute(f"PRAGMA table_info({table})")}:
                    self.replica.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        self._spool = Spool(home / "pull-spool")
        # What the hub was told this device holds is held before anyone reads it.
        self._apply_spooled(SyncSummary(), None)

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def open(cls, home: str | Path, **kwargs: Any) -> Agent:
        home = Path(home)
        return cls(home, AgentConfig.read(home), **kwargs)

    @classmethod
    def enrol(cls, home: str | Path, hub_url: str, code: str, device_name: str | None = None,
              transport: HubTransport | None = None, **kwargs: Any) -> Agent:
        """Trade a one-time code for this device's identity; the home folder is created."""
        home = Path(home)
        if (home / "agent.json").exists():
            raise SyncError(f"{home} already holds an enrolled agent",
                            hint="use another --home, or remove that folder to enrol again")
        address = urlsplit(hub_url)
        if transport is None and (address.scheme not in ("http", "https") or not address.hostname):
            raise SyncError(f"{hub_url!r} is not a hub address",
                            hint="give it as http://HOST:PORT, e.g. --hub http://10.0.0.5:8765 — or leave --hub out "
                                 "to find the hub on the local network")
        link = transport or HttpTransport(hub_url)
        reply = link.call("POST", "/api/v1/enrol", json={
            "code": code, "device_name": device_name, "agent_version": VERSION})
        home.mkdir(parents=True, exist_ok=True)
        config = AgentConfig(
            hub_url=hub_url, node=reply["node"], token=reply["token"], kind=reply["kind"],
            technician_id=reply.get("technician_id"), van_id=reply.get("van_id"), hub_node=reply["hub_node"],
            device_name=reply.get("name") or device_name or reply["node"],
        )
        config.write(home)
        agent = cls(home, config, transport=link, **kwargs)
        hub_now = int(reply["hub_now_ms"])
        agent._clock_measured(hub_now, hub_now - agent.wall(), agent.elapsed())
        return agent

    def close(self) -> None:
        self.replica.close()
        close = getattr(self.transport, "close", None)
        if close:
            close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clock ----------------------------------------------------------------------------------
    @property
    def clock_offset_ms(self) -> int:
        return int(self._state("clock_offset_ms", 0))

    def now_ms(self) -> int:
        """The hub's time as this device best knows it: its own clock, corrected by the offset
        measured at the last sync — unless the time elapsed since shows that clock was moved
        (device_agent/clock.py). Ops are stamped with it so a wrong tablet clock is harmless."""
        found = self.clock_estimate()
        if found.anchor is not None:
            self._set_state("clock_booted", found.anchor.dumps())
        return found.now_ms

    def clock_estimate(self) -> Estimate:
        """The hub's time now, and by how much this device's clock was moved since the last sync."""
        return clock.estimate(self.wall(), self.clock_offset_ms, self.elapsed(),
                              Anchor.loads(self._state("clock_synced", None)),
                              Anchor.loads(self._state("clock_booted", None)))

    def _clock_measured(self, hub_now_ms: int, offset_ms: int, before: ElapsedReading) -> None:
        """Keep what a sync measured: the wall clock's offset, and the hub's time on the elapsed clock."""
        anchor = clock.at_sync(hub_now_ms, before, self.elapsed())
        with self.replica.transaction():
            self._set_state("clock_offset_ms", offset_ms)
            self._set_state("clock_synced", anchor.dumps() if anchor else None)

    def device_time(self) -> str:
        """What this device's clock says, as recorded in business times (the hub corrects them)."""
        return datetime.fromtimestamp(self.wall() / 1000, tz=UTC).isoformat(timespec="seconds")

    # -- recording --------------------------------------------------------------------------------
    def write(self, changes: Iterable[tuple[Any, ...]]) -> list[Op]:
        """Record changes as this device's ops, all together, durably, before returning."""
        return self.replica.write_many(self.now_ms(), changes)

    def store_blob(self, source: str | Path, mime: str) -> tuple[str, int]:
        """Copy a file into the blob folder under its SHA-256 and queue it for upload."""
        source = Path(source)
        hasher = hashlib.sha256()
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest = hasher.hexdigest()
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            temporary = target.with_suffix(".part")
            shutil.copyfile(source, temporary)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        size = target.stat().st_size
        with self.replica.transaction():
            self.replica.conn.execute(
                "INSERT OR IGNORE INTO blob_queue (sha256, size, mime, added_at) VALUES (?,?,?,?)",
                (digest, size, mime, self.device_time()),
            )
        return digest, size

    def blob_path(self, sha256: str) -> Path:
        return self.home / "blobs" / sha256[:2] / sha256

    # -- sync -------------------------------------------------------------------------------------
    def sync(self, progress: Progress | None = None) -> SyncSummary:
        """Push this device's work, upload its blobs, pull what is new in its scope. Retries with
        backoff while the hub is unreachable; whatever was acknowledged stays acknowledged, and a
        sync cut short resumes where it stopped."""
        summary = SyncSummary()
        known = self._conflict_ids()
        try:
            hub_has = self._hello(summary)
        except HubRefused as exc:
            if exc.status == 401:
                # Cut off (a lost tablet, a device replaced): say so wherever the technician looks.
                self._set_state("cut_off", exc.body.get("error") or exc.message)
            raise
        if self._state("cut_off", None) is not None:
            self._set_state("cut_off", None)
        hub_has = self._push(hub_has, summary, progress)
        self._upload_blobs(summary, progress)
        self._pull(summary, progress)
        summary.conflicts = self._conflicts_since(known)
        self._set_state("last_sync_at", self.device_time())
        self._set_state("hub_has", hub_has)
        return summary

    def _call(self, summary: SyncSummary, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        def retried(attempt: int, error: Exception) -> None:
            summary.retries += 1

        return with_retries(lambda: self.transport.call(method, path, token=self.config.token, **kwargs),
                            attempts=self.attempts, sleep=self.sleep, on_retry=retried)

    def _hello(self, summary: SyncSummary) -> int:
        before = self.elapsed()
        sent = self.wall()
        reply = self._call(summary, "POST", "/api/v1/sync/hello", json={
            "device_now_ms": sent, "clock_offset_ms": self._state("clock_offset_ms", None),
            "agent_version": VERSION, "protocol": PROTOCOL_VERSION})
        received = self.wall()
        # NTP-style: the hub read its clock about halfway through the round trip.
        offset = int(reply["hub_now_ms"]) - (sent + received) // 2
        self._clock_measured(int(reply["hub_now_ms"]), offset, before)
        summary.clock_offset_ms = offset
        self._follow_rescope(reply, summary)
        acknowledged = self._state("hub_has", None)
        if acknowledged is not None and int(reply["hub_has"]) < int(acknowledged):
            # The hub holds less of this device's work than it once acknowledged: it was restored
            # from a backup. This device pushes that work again; the photos the hub verified since
            # may be gone with it, so each is asked about again (one that is there costs a GET).
            summary.blobs_rechecked = self._recheck_blobs()
        self._set_state("hub_has", int(reply["hub_has"]))
        if "quarantined" in reply:  # a hub that predates it does not say
            self._mirror_rejections(reply["quarantined"], reply.get("quarantined_through"))
        return int(reply["hub_has"])

    def _follow_rescope(self, reply: dict[str, Any], summary: SyncSummary) -> None:
        """Take on the technician or van the hub now has this device serve (``fieldsync-hub admin
        rescope``): its jobs and the checks on what may be recorded follow the hub's word."""
        serves = {"technician_id": reply.get("technician_id"), "van_id": reply.get("van_id")}
        if "technician_id" not in reply or serves == {"technician_id": self.config.technician_id,
                                                      "van_id": self.config.van_id}:
            return
        self.config = replace(self.config, **serves)
        self.config.write(self.home)
        summary.moved_to = serves

    def _recheck_blobs(self) -> int:
        with self.replica.transaction():
            return self.replica.conn.execute(
                "UPDATE blob_queue SET uploaded_at = NULL, hub_received = 0 WHERE uploaded_at IS NOT NULL").rowcount

    def _push(self, hub_has: int, summary: SyncSummary, progress: Progress | None) -> int:
        mine = self.config.node
        total = max(0, self.replica.max_counters().get(mine, 0) - hub_has)
        while True:
            # Only this device's own ops go up: the hub is the source of everyone else's.
            after = {node: top for node, top in self.replica.max_counters().items()}
            after[mine] = hub_has
            batch = [op for op in self.replica.ops_after(after, PUSH_BATCH) if op.node == mine]
            if not batch:
                return hub_has
            reply = self._call(summary, "POST", "/api/v1/sync/push", json={"ops": [to_wire(op) for op in batch]})
            summary.pushed += len(batch)
            summary.accepted += reply["accepted"]
            summary.rejected.extend(reply["rejected"])
            self._remember_rejections(reply["rejected"])
            hub_has = max(int(reply["hub_has"]), max(op.counter for op in batch))
            self._set_state("hub_has", hub_has)
            if progress:
                progress("push", summary.pushed, total)

    def _upload_blobs(self, summary: SyncSummary, progress: Progress | None) -> None:
        queue = self.replica.conn.execute(
            "SELECT sha256, size FROM blob_queue WHERE uploaded_at IS NULL ORDER BY added_at").fetchall()
        total = sum(size for _, size in queue)
        done = 0
        for digest, size in queue:
            # In bytes, chunk by chunk: one photo or video may take minutes on a slow link.
            def uploading(offset: int, before: int = done) -> None:
                if progress:
                    progress("blobs", before + offset, total)
            try:
                sent = self._upload_blob(summary, digest, size, uploading)
            except HubRefused as exc:
                # One bad blob must not hold back the others, nor the pull that follows.
                summary.blob_errors.append({"sha256": digest, "error": str(exc)})
            else:
                with self.replica.transaction():
                    self.replica.conn.execute("UPDATE blob_queue SET uploaded_at = ? WHERE sha256 = ?",
                                              (self.device_time(), digest))
                summary.blobs_uploaded += sent
            uploading(size)
            done += size

    def _upload_blob(self, summary: SyncSummary, digest: str, size: int,
                     uploading: Callable[[int], None] = lambda offset: None) -> bool:
        """Send the bytes the hub does not have yet, a chunk at a time, from where it stopped;
        whether it lacked any. ``uploading`` is told how far the hub has it after each chunk."""
        offset = self._hub_blob_offset(summary, digest, size)
        if offset >= size:
            return False
        with open(self.blob_path(digest), "rb") as handle:
            while offset < size:
                self._hub_received(digest, offset)
                uploading(offset)
                handle.seek(offset)
                chunk = handle.read(BLOB_CHUNK)
                try:
                    reply = self._call(summary, "PUT", f"/api/v1/blobs/{digest}", data=chunk,
                                       params={"offset": offset, "size": size})
                except HubRefused as exc:
                    if exc.status != 409:
                        raise
                    # The hub holds a different amount than we thought (a reply lost after it
                    # wrote a chunk): resume from what it has — unless that gets us nowhere.
                    resumed = self._hub_blob_offset(summary, digest, size)
                    if resumed == offset:
                        raise
                    offset = resumed
                    continue
                offset = size if reply["status"] == "verified" else int(reply["received"])
        return True

    def _hub_received(self, digest: str, offset: int) -> None:
        with self.replica.transaction():
            self.replica.conn.execute("UPDATE blob_queue SET hub_received = ? WHERE sha256 = ?", (offset, digest))

    def _hub_blob_offset(self, summary: SyncSummary, digest: str, size: int) -> int:
        try:
            state = self._call(summary, "GET", f"/api/v1/blobs/{digest}")
        except HubRefused as exc:
            if exc.status == 404:
                return 0
            raise
        return size if state["status"] == "verified" else int(state["received"])

    def _pull(self, summary: SyncSummary, progress: Progress | None) -> None:
        """Pull pages until the hub has nothing more. Each reply is spooled to disk before the
        request that acknowledges it, so the next page's request — and, over a real network, the
        hub's work on it — goes beside this page's commit: a bootstrap costs about the larger of
        the hub's and the device's work, not their sum. A reply spooled and not yet committed
        (the agent died) is committed before anything else (see :meth:`_apply_spooled`)."""
        self._apply_spooled(summary, progress)
        cursor = int(self._state("cursor", 0))
        # The offer id of the last reply held here: echoed, it is what tells the hub that this
        # device holds what that reply carried (a hub that predates offer ids sends none).
        offer = self._state("pull_offer", None)
        seq = int(self._state("spool_applied", 0))
        # Over HTTP the request waits on the network in a thread; in-process transports (tests,
        # the fault simulation) fetch first and commit after, in one thread, deterministically.
        overlap = bool(getattr(self.transport, "overlaps", False))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull") as fetcher:
            pending = _started(fetcher if overlap else None, self._fetch_page, summary, cursor, offer, seq + 1)
            while True:
                reply = pending.result()
                seq += 1
                if reply["more"]:
                    pending = _started(fetcher if overlap else None, self._fetch_page, summary,
                                       int(reply["cursor"]), reply.get("offer"), seq + 1)
                self._apply_page(seq, reply, summary, progress)
                if not reply["more"]:
                    return

    def _fetch_page(self, summary: SyncSummary, cursor: int, offer: Any, seq: int) -> dict[str, Any]:
        request: dict[str, Any] = {"cursor": cursor, "limit": PULL_BATCH}
        if offer is not None:
            request["ack"] = int(offer)
        reply = self._call(summary, "POST", "/api/v1/sync/pull", json=request)
        self._spool.put(seq, orjson.dumps(reply))
        return reply

    def _apply_spooled(self, summary: SyncSummary, progress: Progress | None) -> None:
        """Commit the replies spooled and acknowledged to the hub but not committed here (the
        agent died between the two), in order; drop those already committed."""
        applied = int(self._state("spool_applied", 0))
        for seq in self._spool.seqs():
            if seq <= applied:
                self._spool.drop(seq)
            else:
                self._apply_page(seq, orjson.loads(self._spool.read(seq)), summary, progress)

    def _apply_page(self, seq: int, reply: dict[str, Any], summary: SyncSummary, progress: Progress | None) -> None:
        ops = [from_wire(raw) for raw in reply["ops"]]
        entities = [(entity, eid) for entity, eid in reply.get("entities", ())]
        with self.replica.transaction():
            # The ops, the cursor that follows them and the reply's offer id commit together:
            # a crash between them can never skip ops nor acknowledge what was not kept.
            if reply.get("history") and "entities" in reply:
                # Entities entering our scope come whole: what we held of one that was here
                # before may have been superseded at the hub while it was away. Work recorded
                # here since the push is read in this transaction, so none can slip past.
                self.replica.rebuild(entities, ops, self.now_ms(), self._unpushed(int(reply["hub_has"])),
                                     schema_checked=True)
            else:
                # The hub validated every op it holds against the schema: see replica.ingest.
                self.replica.ingest(ops, self.now_ms(), schema_checked=True)
            self._set_state("cursor", int(reply["cursor"]))
            self._set_state("pull_offer", reply.get("offer"))
            self._set_state("spool_applied", seq)
            # An entity the hub sends again is back in scope (a job reassigned back to us);
            # one the hub says has left is hidden until then. Few have left: they are read
            # whole, rather than a DELETE run for each of a page's 20,000 ops.
            gone = set(self.replica.conn.execute("SELECT entity, eid FROM left_scope").fetchall())
            if gone:
                back = gone & ({(op.entity, op.eid) for op in ops} | set(entities))
                self.replica.conn.executemany("DELETE FROM left_scope WHERE entity = ? AND eid = ?", back)
            for entity, eid in reply.get("left_scope", []):
                self.replica.conn.execute("INSERT OR REPLACE INTO left_scope VALUES (?,?,?)",
                                          (entity, eid, self.device_time()))
                summary.left_scope.append([entity, eid])
        self._spool.drop(seq)
        summary.pulled += len(ops)
        if progress:
            progress("pull", summary.pulled, summary.pulled + (PULL_BATCH if reply["more"] else 0))

    def _unpushed(self, hub_has: int) -> list[Op]:
        """This device's ops the hub had not merged when it replied: those past ``hub_has`` (not
        received yet), and those it holds in quarantine until its clock reaches them — counted in
        ``hub_has``, left out of what it sends, and merged there later."""
        node = self.config.node
        waiting = [self.replica.get_op(OpId(node, counter)) for (counter,) in self.replica.conn.execute(
            "SELECT counter FROM hub_rejections WHERE node = ? AND clock_ahead AND counter <= ?", (node, hub_has))]
        tops = self.replica.max_counters()
        mine = tops.get(node, 0)
        if mine > hub_has:
            waiting.extend(self.replica.ops_after({**tops, node: hub_has}, mine - hub_has))
        return [op for op in waiting if op is not None]

    # -- status -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What is recorded, what still waits for a network, and how the last sync went."""
        mine = self.replica.max_counters().get(self.config.node, 0)
        hub_has = int(self._state("hub_has", 0))
        pending_blobs = self.replica.conn.execute(
            "SELECT count(*), coalesce(sum(size - hub_received), 0) FROM blob_queue WHERE uploaded_at IS NULL"
        ).fetchone()
        rejections = [
            {"id": f"{node}:{counter}", "field": field, "reason": reason, "at": at,
             "waits_for_hub_clock": bool(clock_ahead)}
            for node, counter, field, reason, at, clock_ahead in self.replica.conn.execute(
                "SELECT node, counter, field, reason, at, clock_ahead FROM hub_rejections ORDER BY counter")
        ]
        estimate = self.clock_estimate()
        return {
            "node": self.config.node, "device": self.config.device_name, "kind": self.config.kind,
            "technician_id": self.config.technician_id, "van_id": self.config.van_id, "hub": self.config.hub_url,
            "recorded_ops": mine, "pending_ops": max(0, mine - hub_has), "pending_blobs": pending_blobs[0],
            "pending_blob_bytes": pending_blobs[1], "last_sync_at": self._state("last_sync_at", None),
            "clock_offset_ms": self.clock_offset_ms, "clock_jump_ms": estimate.jump_ms, "clock_note": estimate.note,
            "conflicts": len(self.replica.conflicts()),
            "refused_by_hub": rejections,
            # Why the hub refused this device at its last sync (revoked), if it did.
            "cut_off": self._state("cut_off", None),
        }

    def _conflict_ids(self) -> set[tuple[str, int]]:
        return set(self.replica.conn.execute("SELECT op_node, op_counter FROM conflicts").fetchall())

    def _conflicts_since(self, known: set[tuple[str, int]]) -> list[dict[str, Any]]:
        """The conflicts kept here now whose losing op is not among ``known``."""
        new = self._conflict_ids() - known
        entities = sorted(set(self.replica.conn.execute(
            "SELECT entity, eid FROM conflicts WHERE " + " OR ".join(["(op_node = ? AND op_counter = ?)"] * len(new)),
            [part for op_id in sorted(new) for part in op_id]).fetchall())) if new else []
        wanted = {f"{node}:{counter}" for node, counter in new}
        return [{"entity": entity, "eid": eid, **conflict}
                for entity, eid in entities for conflict in self.replica.conflicts(entity, eid)
                if conflict["op"] in wanted]

    def has_left(self, entity: str, eid: str) -> bool:
        """Whether the hub said this entity left the device's scope (reassigned away)."""
        return self.replica.conn.execute(
            "SELECT 1 FROM left_scope WHERE entity = ? AND eid = ?", (entity, eid)).fetchone() is not None

    # -- agent tables -----------------------------------------------------------------------------------
    def _state(self, key: str, default: Any) -> Any:
        row = self.replica.conn.execute("SELECT value FROM agent_state WHERE key = ?", (key,)).fetchone()
        return default if row is None or row[0] is None else row[0]

    def _set_state(self, key: str, value: Any) -> None:
        with self.replica.transaction():
            self.replica.conn.execute("INSERT OR REPLACE INTO agent_state VALUES (?, ?)", (key, value))

    def _mirror_rejections(self, held: list[dict[str, Any]], through: int | None) -> None:
        """Hold as refused what the hub says it keeps in quarantine of this device's ops, listed
        up to counter ``through`` (None: all of them). Those no longer there were released — they
        waited for the hub's clock, which has caught up — and are refused no more; those listed
        are kept, with the reason the hub gives now (a push reply may never have arrived)."""
        listed = {int(r["id"][1]): r for r in held}
        with self.replica.transaction():
            gone = [(self.config.node, counter) for (counter,) in self.replica.conn.execute(
                "SELECT counter FROM hub_rejections WHERE node = ?", (self.config.node,))
                if counter not in listed and (through is None or counter <= through)]
            self.replica.conn.executemany("DELETE FROM hub_rejections WHERE node = ? AND counter = ?", gone)
            self.replica.conn.executemany(
                f"INSERT INTO hub_rejections {_REJECTION_COLUMNS} ON CONFLICT (node, counter) DO UPDATE SET "
                "field = excluded.field, reason = excluded.reason, clock_ahead = excluded.clock_ahead",
                [self._rejection_row(r) for r in listed.values()],
            )

    def _remember_rejections(self, rejected: list[dict[str, Any]]) -> None:
        if not rejected:
            return
        with self.replica.transaction():
            self.replica.conn.executemany(f"INSERT OR REPLACE INTO hub_rejections {_REJECTION_COLUMNS}",
                                          [self._rejection_row(r) for r in rejected])

    def _rejection_row(self, rejection: dict[str, Any]) -> tuple[Any, ...]:
        """A rejection as a sync reply reports it, as a row of hub_rejections (_REJECTION_COLUMNS)."""
        # A hub that predates clock_ahead quarantined such ops for good: they did not wait.
        return (rejection["id"][0], rejection["id"][1], rejection["field"], rejection["reason"], self.device_time(),
                int(bool(rejection.get("clock_ahead"))))


def _started(pool: ThreadPoolExecutor | None, work: Callable[..., Any], *args: Any) -> Future[Any]:
    """``work(*args)`` running in ``pool``, or, without one, already done here (its error kept
    in the future, raised where the result is asked for, as from the pool)."""
    if pool is not None:
        return pool.submit(work, *args)
    done: Future[Any] = Future()
    try:
        done.set_result(work(*args))
    except Exception as exc:  # noqa: BLE001 — handed over, as the pool would
        done.set_exception(exc)
    return done
