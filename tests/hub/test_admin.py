"""The hub's administrator at work: watching devices catch up, moving a tablet to another
technician, reading conflicts and quarantine, exporting a job, backing up a live hub and
restoring it — through ``fieldsync-hub admin`` and the library behind it."""

import hashlib
import json
import threading

import pytest
from click.testing import CliRunner

from hub import admin, auth
from hub.cli import main
from hub.config import HubConfig
from hub.errors import ApiError
from hub.store import HubStore
from schema import REGISTRY
from sync import hlc
from sync.ops import APPEND, MOVE, SET, VOID, Op, OpId, to_wire
from sync.store import SqliteReplica

from .conftest import NOW_MS
from .test_sync_api import bearer, pull_all


def cli(store, *args):
    """Run ``fieldsync-hub --db <the test hub> admin ...``; the result keeps stdout and stderr apart."""
    return CliRunner().invoke(main, ["--db", str(store.config.database), "admin", *args])


def push(client, token, ops):
    return client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json


def sync_again(client, token, cursor):
    """What the agent does at its next sync: pull from the cursor it was given (which
    acknowledges the previous reply) until nothing more."""
    return pull_all(client, token, cursor)


def visit_ops(node, start=1):
    """A technician's visit to job-1 recorded offline: accept, check in, log time, use a part,
    tick a step, photograph, get the signature."""
    at = "2026-11-27T09:30:00+00:00"
    sha = hashlib.sha256(b"photo").hexdigest()
    records = [
        ("check_event", "ce-1", {"job_id": "job-1", "technician_id": "tech-1", "direction": "in", "lat": 51.45,
                                 "lon": -2.6, "device_time": at}),
        ("time_log", "tl-1", {"job_id": "job-1", "technician_id": "tech-1", "started_at": at,
                              "ended_at": "2026-11-27T10:30:00+00:00"}),
        ("part_usage", "pu-1", {"job_id": "job-1", "sku": "CAP-45", "qty": "1", "location_id": "van-7",
                                "device_time": at}),
        ("checklist_step", "cs-1", {"job_id": "job-1", "step_id": "isolate", "done": True, "device_time": at}),
        ("attachment", "at-1", {"job_id": "job-1", "sha256": sha, "size": 5, "mime": "image/jpeg",
                                "device_time": at}),
        ("signature", "sg-1", {"job_id": "job-1", "signer_name": "Hotel manager", "image_sha256": sha,
                               "summary_sha256": sha, "signed_at": at}),
    ]
    ops = [Op(node, start, hlc.pack(NOW_MS), "job", "job-1", MOVE, "status", "accepted")]
    for i, (entity, eid, value) in enumerate(records, start=start + 1):
        ops.append(Op(node, i, hlc.pack(NOW_MS + i), entity, eid, APPEND, "", value))
    return ops


# -- devices ---------------------------------------------------------------------------------------
def test_the_devices_report_shows_lag_until_the_tablet_has_pulled_what_the_hub_wrote(client, seeded, device):
    dev, token = device
    _, cursor, _ = pull_all(client, token)
    assert admin.device_status(seeded, dev.node)["lag"] == 0

    seeded.write([("job", "job-1", SET, "completion_notes", "bring a ladder"),
                  ("ticket", "tkt-1", SET, "priority", "Critical"),
                  ("site", "site-1", SET, "name", "Roof plant room"),
                  ("job", "job-9", SET, "technician_id", "tech-9")])  # someone else's job: not lag
    status = admin.device_status(seeded, dev.node)
    assert (status["lag"], status["unacked"], status["lag_exact"]) == (3, 0, True)

    ops, cursor, _ = sync_again(client, token, cursor)
    assert len(ops) == 3
    status = admin.device_status(seeded, dev.node)
    assert (status["lag"], status["unacked"]) == (3, 3)  # sent, confirmed at the next sync

    sync_again(client, token, cursor)
    assert admin.device_status(seeded, dev.node)["lag"] == 0

    result = cli(seeded, "devices", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["node"] == dev.node and row["lag"] == 0 and row["technician_id"] == "tech-1"
    assert row["pulled"] >= 3 and row["pending"] == 0 and row["revoked_at"] is None
    text = cli(seeded, "devices").stdout
    assert dev.node in text and "LAG" in text and "tech-1" in text


def test_a_device_up_to_date_after_a_later_sync_reads_0_behind_with_its_last_reply_unconfirmed(
        client, seeded, device):
    dev, token = device
    _, cursor, _ = pull_all(client, token)
    first = admin.device_status(seeded, dev.node)  # right after the first sync
    assert (first["lag"], first["unacked"], first["to_send"]) == (0, 0, 0)
    seeded.write([("job", "job-1", SET, "completion_notes", f"note {i}") for i in range(5)])
    behind = admin.device_status(seeded, dev.node)
    assert (behind["lag"], behind["unacked"], behind["to_send"]) == (5, 0, 5)
    assert "unconfirmed" not in cli(seeded, "devices").stdout
    ops, cursor, _ = sync_again(client, token, cursor)  # the agent stops at more: false, unacknowledged
    assert len(ops) == 5
    status = admin.device_status(seeded, dev.node)
    assert (status["lag"], status["unacked"], status["to_send"]) == (5, 5, 0)
    text = cli(seeded, "devices").stdout
    assert "0 (+5 unconfirmed)" in text and "5 (5 sent)" not in text
    seeded.write([("job", "job-1", SET, "completion_notes", "one more")])
    assert "1 (+5 unconfirmed)" in cli(seeded, "devices").stdout


def test_rescope_renames_a_device_named_by_default_for_its_old_technician_and_the_report_names_who_it_serves(
        client, seeded):
    seed_second_technician(seeded)
    code = auth.create_enrolment_code(seeded, "technician", "tech-1", "technician tech-1")  # enrol's default
    plain, _ = auth.enrol(seeded, code, None, "test")
    named, _ = auth.enrol(seeded, auth.create_enrolment_code(seeded, "technician", "tech-1", "x"), "Ana's tablet", "t")
    for node in (plain.node, named.node):
        assert cli(seeded, "rescope", node, "--technician", "tech-2").exit_code == 0
    rows = {row["node"]: row for row in json.loads(cli(seeded, "devices", "--json").stdout)}
    assert rows[plain.node]["name"] == "technician tech-2"
    assert rows[named.node]["name"] == "Ana's tablet"  # a name someone chose is kept
    assert rows[named.node]["technician_id"] == "tech-2" and rows[named.node]["serves"] == "Ben Okafor"
    text = cli(seeded, "devices").stdout
    assert "technician tech-1" not in text and "tech-2 (Ben Okafor)" in text


def test_a_tablet_far_behind_is_reported_as_more_than_the_cap(client, seeded, device, monkeypatch):
    dev, token = device
    pull_all(client, token)
    monkeypatch.setattr(admin, "LAG_CAP", 5)
    seeded.write([("job", "job-1", SET, "completion_notes", f"note {i}") for i in range(8)])
    status = admin.device_status(seeded, dev.node)
    assert (status["lag"], status["lag_exact"]) == (5, False)
    assert ">5" in cli(seeded, "devices").stdout


def test_a_skewed_clock_and_quarantined_ops_show_in_the_report(client, seeded, device):
    dev, token = device
    client.post("/api/v1/sync/hello", json={"device_now_ms": NOW_MS - 10 * 60 * 1000}, headers=bearer(token))
    push(client, token, [Op(dev.node, 1, hlc.pack(NOW_MS), "customer", "cust-1", SET, "name", "mine now")])
    status = admin.device_status(seeded, dev.node)
    assert status["skewed"] and status["clock_offset_ms"] == 10 * 60 * 1000
    assert (status["pending"], status["rejected"]) == (1, 1)
    assert "SKEWED" in cli(seeded, "devices").stdout


def test_many_devices_get_a_progress_bar_on_stderr_and_clean_json_on_stdout(seeded, monkeypatch):
    import hub.cli

    monkeypatch.setattr(hub.cli, "PROGRESS_AFTER", 1)
    for name in ("a", "b"):
        auth.enrol(seeded, auth.create_enrolment_code(seeded, "technician", "tech-1", name), name, "test")
    result = cli(seeded, "devices", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 2
    assert "measuring lag" in result.stderr


def test_revoke_cuts_the_tablet_off_and_the_report_says_so(client, seeded, device):
    dev, token = device
    result = cli(seeded, "revoke", dev.node)
    assert result.exit_code == 0 and "revoked" in result.stdout
    assert client.post("/api/v1/sync/pull", json={"cursor": 0}, headers=bearer(token)).status_code == 401
    [row] = json.loads(cli(seeded, "devices", "--json").stdout)
    assert row["revoked_at"] and row["lag"] is None
    assert "REVOKED" in cli(seeded, "devices").stdout


# -- rescope ---------------------------------------------------------------------------------------
def seed_second_technician(store):
    store.write([
        ("technician", "tech-2", SET, "name", "Ben Okafor"),
        ("ticket", "tkt-2", SET, "customer_id", "cust-1"),
        ("ticket", "tkt-2", SET, "title", "Boiler pressure low"),
        ("work_order", "wo-2", SET, "ticket_id", "tkt-2"),
        ("work_order", "wo-2", SET, "scope", "Repressurise the boiler"),
        ("job", "job-2", SET, "work_order_id", "wo-2"),
        ("job", "job-2", SET, "ticket_id", "tkt-2"),
        ("job", "job-2", SET, "technician_id", "tech-2"),
    ])


def test_a_tablet_moved_to_another_technician_gets_the_new_job_and_drops_the_old(client, seeded, device):
    dev, token = device
    seed_second_technician(seeded)
    _, cursor, _ = pull_all(client, token)

    result = cli(seeded, "rescope", dev.node, "--technician", "tech-2", "--json")
    assert result.exit_code == 0, result.output
    moved = json.loads(result.stdout)
    assert (moved["from"], moved["to"], moved["jobs_entering"], moved["jobs_leaving"]) == (
        "tech-1", "tech-2", ["job-2"], ["job-1"])

    # The next sync pushes first: work recorded offline on the old job before the tablet heard
    # of the move is still taken.
    late = Op(dev.node, 1, hlc.pack(NOW_MS), "time_log", "tl-late", APPEND, "", {
        "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T08:00:00+00:00",
        "ended_at": "2026-11-27T08:30:00+00:00"})
    assert push(client, token, [late])["accepted"] == 1
    ops, cursor, last = sync_again(client, token, cursor)
    assert ("job", "job-2") in {(op[3], op[4]) for op in ops}
    assert ["job", "job-1"] in last["left_scope"]
    hello = client.post("/api/v1/sync/hello", json={"device_now_ms": NOW_MS}, headers=bearer(token)).json
    assert hello["technician_id"] == "tech-2"


def test_rescope_explains_what_to_do_when_it_cannot(seeded, device):
    dev, _ = device
    result = cli(seeded, "rescope", dev.node, "--van", "van-7")
    assert result.exit_code == 1 and "is a technician device" in result.output and "next:" in result.output
    result = cli(seeded, "rescope", dev.node, "--technician", "tech-404")
    assert result.exit_code == 1 and "no technician 'tech-404'" in result.output
    result = cli(seeded, "rescope", "dev-nope", "--technician", "tech-1")
    assert result.exit_code == 1 and "no device 'dev-nope'" in result.output
    assert cli(seeded, "rescope", dev.node).exit_code == 2
    assert "nothing changed" in cli(seeded, "rescope", dev.node, "--technician", "tech-1").stdout


# -- conflicts and quarantine ----------------------------------------------------------------------
def test_concurrent_notes_are_listed_as_a_conflict_with_both_values(client, seeded, device):
    dev, token = device
    pull_all(client, token)
    seeded.write([("job", "job-1", SET, "completion_notes", "office: waiting for parts")])
    # The tablet had not seen the office's note: its later write overwrote a concurrent one.
    push(client, token, [Op(dev.node, 1, hlc.pack(NOW_MS + 1000), "job", "job-1", SET, "completion_notes",
                            "tablet: replaced capacitor")])
    [conflict] = admin.list_conflicts(seeded, "job", "job-1")
    assert conflict["value"] == "office: waiting for parts"
    assert conflict["winner_value"] == "tablet: replaced capacitor"
    assert conflict["winner"] == f"{dev.node}:1" and conflict["winner_at"].startswith("2026-11-27T")
    text = cli(seeded, "conflicts", "--entity", "job").stdout
    assert "office: waiting for parts" in text and "tablet: replaced capacitor" in text and "open" in text
    assert json.loads(cli(seeded, "conflicts", "--json", "--eid", "job-1").stdout) == admin.list_conflicts(
        seeded, eid="job-1")
    assert "no conflicts kept" in cli(seeded, "conflicts", "--entity", "ticket").stdout


def test_refused_ops_are_listed_with_their_reason(client, seeded, device):
    dev, token = device
    push(client, token, [Op(dev.node, 1, hlc.pack(NOW_MS), "customer", "cust-1", SET, "name", "mine now")])
    [held] = json.loads(cli(seeded, "quarantine", "--node", dev.node, "--json").stdout)
    assert held["id"] == f"{dev.node}:1" and held["field"] == "entity"
    assert held["reason"] == "a technician device may not change customer records"
    assert (held["entity"], held["eid"], held["value"]) == ("customer", "cust-1", "mine now")
    assert "may not change customer records" in cli(seeded, "quarantine").stdout
    assert "nothing in quarantine from dev-other" in cli(seeded, "quarantine", "--node", "dev-other").stdout


# -- export ----------------------------------------------------------------------------------------
def test_an_exported_job_rebuilds_the_same_state_on_an_empty_replica(client, seeded, device, tmp_path):
    dev, token = device
    pull_all(client, token)
    visit = visit_ops(dev.node)
    void = Op(dev.node, len(visit) + 1, hlc.pack(NOW_MS + 100), "checklist_step", "cs-1", VOID, "", None,
              (OpId(dev.node, 5),))
    assert push(client, token, [*visit, void])["accepted"] == len(visit) + 1
    seeded.write([("job", "job-1", SET, "completion_notes", "first draft"),
                  ("ticket_comment", "tc-1", APPEND, "", {"ticket_id": "tkt-1", "visibility": "customer",
                   "body": "Engineer on site", "author": "Dispatch", "written_at": "2026-11-27T09:35:00+00:00"})])
    seeded.write([("job", "job-1", SET, "completion_notes", "capacitor replaced, unit cooling")])

    out = tmp_path / "job-1.json"
    result = cli(seeded, "export-job", "job-1", "--out", str(out))
    assert result.exit_code == 0 and "7 record(s)" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["job"]["status"] == "accepted" and doc["ticket"]["id"] == "tkt-1" and doc["work_order"]["id"] == "wo-1"
    assert {name: len(group) for name, group in doc["records"].items()} == dict.fromkeys(
        ("check_event", "time_log", "part_usage", "checklist_step", "attachment", "signature", "ticket_comment"), 1)
    assert doc["records"]["checklist_step"][0]["voided"] is True
    # The timeline is the office API's: events in HLC order, the void and the photo's blob shown.
    kinds = [event["kind"] for event in doc["timeline"]]
    assert kinds.index("status") < kinds.index("check_in") < kinds.index("signature")
    assert next(e for e in doc["timeline"] if e["kind"] == "checklist_step")["voided"] is True
    assert next(e for e in doc["timeline"] if e["kind"] == "attachment")["blob"]["status"] == "pending"
    assert all(op["at"].startswith("2026-11-27T") for op in doc["ops"])
    assert "first draft" not in [op["value"] for op in doc["ops"]]  # superseded: not part of the state

    fresh = SqliteReplica.open(tmp_path / "scratch.db", "scratch", REGISTRY)
    result = fresh.ingest(admin.ops_of_export(doc), NOW_MS + 60_000)
    assert not result.rejected
    keys = [("job", "job-1"), ("work_order", "wo-1"), ("ticket", "tkt-1")] + [
        (entity, record["eid"]) for entity, group in doc["records"].items() for record in group]
    for entity, eid in keys:
        assert fresh.entity(entity, eid) == seeded.replica.entity(entity, eid), (entity, eid)
    fresh.close()

    everything = admin.export_job(seeded, "job-1", all_ops=True)
    assert "first draft" in [op["value"] for op in everything["ops"]]
    assert json.loads(cli(seeded, "export-job", "job-1").stdout)["job_id"] == "job-1"
    missing = cli(seeded, "export-job", "job-404")
    assert missing.exit_code == 1 and "no job 'job-404'" in missing.output


# -- backup and restore ----------------------------------------------------------------------------
def upload_blob(client, token, data):
    sha = hashlib.sha256(data).hexdigest()
    reply = client.put(f"/api/v1/blobs/{sha}?offset=0&size={len(data)}", data=data, headers=bearer(token))
    assert reply.json["status"] == "verified"
    return sha


def test_a_backup_taken_while_the_hub_writes_is_whole_and_holds_what_was_committed(seeded, tmp_path):
    stop = threading.Event()
    written = []

    def writer():
        while not stop.is_set():
            n = len(written)
            seeded.write([("ticket", f"tkt-load-{n}", SET, "title", f"load {n}") for _ in range(50)])
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        with seeded.reading():
            before = seeded.replica.op_count()
        report = admin.backup(seeded.config.database, seeded.config.blobs, tmp_path / "hub.bak")
    finally:
        stop.set()
        thread.join()
    assert report["integrity"] == "ok" and report["ops"] >= before and report["bytes"] > 0
    with SqliteReplica.open(tmp_path / "hub.bak", None, REGISTRY) as copy:
        assert copy.op_count() == report["ops"]
        assert [row[0] for row in copy.conn.execute("PRAGMA integrity_check")] == ["ok"]


def test_backup_then_restore_brings_the_hub_back_with_its_blobs(client, seeded, device, tmp_path):
    dev, token = device
    sha = upload_blob(client, token, b"photo of the repaired unit")
    backup_file = tmp_path / "backups" / "hub-2026-11-27.db"
    result = cli(seeded, "backup", str(backup_file))
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.stdout and "blobs: 1 copied" in result.stdout
    assert (admin.blobs_beside(backup_file) / sha[:2] / sha).exists()
    assert cli(seeded, "backup", str(backup_file)).exit_code == 1  # no silent overwrite
    report = json.loads(cli(seeded, "backup", str(backup_file), "--force", "--json").stdout)
    assert report["blobs"]["present"] == 1
    state = seeded.replica.canonical()

    # Into a new place: the hub comes back as it was, blob files included.
    elsewhere = HubConfig(database=tmp_path / "new" / "hub.db")
    restored = admin.restore(backup_file, elsewhere.database, elsewhere.blobs)
    assert restored["integrity"] == "ok" and restored["kept"] is None and restored["blobs"]["copied"] == 1
    reopened = HubStore(elsewhere)
    assert reopened.replica.canonical() == state
    assert auth.get_device(reopened, dev.node).technician_id == "tech-1"
    assert (elsewhere.blobs / sha[:2] / sha).read_bytes() == b"photo of the repaired unit"
    reopened.close()


def test_restore_refuses_a_running_hub_and_keeps_the_replaced_file(seeded, tmp_path):
    backup_file = tmp_path / "hub.bak"
    admin.backup(seeded.config.database, seeded.config.blobs, backup_file)
    seeded.write([("ticket", "tkt-after", SET, "title", "written after the backup")])

    refused = cli(seeded, "restore", str(backup_file))
    assert refused.exit_code == 1 and "exists" in refused.output and "--force" in refused.output
    refused = cli(seeded, "restore", str(backup_file), "--force")
    assert refused.exit_code == 1 and "in use" in refused.output and "stop the hub" in refused.output
    assert seeded.replica.entity("ticket", "tkt-after")  # nothing was harmed

    seeded.close()
    result = cli(seeded, "restore", str(backup_file), "--force")
    assert result.exit_code == 0, result.output
    assert "previous database kept as" in result.stdout and "push their own work again" in result.stdout
    reopened = HubStore(seeded.config)
    assert not reopened.replica.entity("ticket", "tkt-after") and reopened.replica.entity("job", "job-1")
    reopened.close()
    [kept] = tmp_path.glob("hub.db.bak-*")
    with SqliteReplica.open(kept, None, REGISTRY) as old:
        assert old.entity("ticket", "tkt-after")  # the WAL was folded in before setting it aside


def test_restore_rejects_a_file_that_is_not_a_hub_backup(seeded, tmp_path):
    device_replica = SqliteReplica.open(tmp_path / "tablet.db", "dev-1", REGISTRY)
    device_replica.close()
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    target = tmp_path / "restored" / "hub.db"
    for bad in ("tablet.db", "junk.db", "absent.db"):
        with pytest.raises(ApiError) as raised:
            admin.restore(tmp_path / bad, target, tmp_path / "restored" / "blobs")
        assert raised.value.hint
    assert not target.exists() and not list((tmp_path / "restored").glob("*.restoring*"))


# -- the CLI as a whole ----------------------------------------------------------------------------
def test_every_admin_command_has_help_and_json(seeded):
    from hub.cli import admin as group

    for name, command in group.commands.items():
        if name == "user":
            continue
        assert command.help, name
        assert "--json" in [opt for param in command.params for opt in getattr(param, "opts", [])], name
        assert CliRunner().invoke(main, ["admin", name, "--help"]).exit_code == 0


def test_a_mistyped_database_path_is_not_turned_into_an_empty_hub(tmp_path):
    missing = tmp_path / "typo.db"
    for args in (["devices"], ["conflicts"], ["quarantine"], ["export-job", "job-1"], ["backup", str(tmp_path / "b")]):
        result = CliRunner().invoke(main, ["--db", str(missing), "admin", *args])
        assert result.exit_code == 1 and "no hub database" in result.output and "next:" in result.output, args
    assert not missing.exists()


def test_a_setting_the_hub_cannot_run_with_is_named_with_what_to_do_not_a_traceback(tmp_path, monkeypatch):
    database = tmp_path / "hub.db"
    for variable, value, reason in (("FIELDSYNC_PRICE_LIST_CURRENCY", "gbp", "ISO 4217"),
                                    ("FIELDSYNC_MAX_AHEAD_MS", "soon", "must be a number")):
        with monkeypatch.context() as env:
            env.setenv(variable, value)
            text = CliRunner().invoke(main, ["--db", str(database), "admin", "devices"])
            as_json = CliRunner().invoke(main, ["--db", str(database), "admin", "devices", "--json"])
        assert text.exit_code == 1 and f"{variable}: " in text.output and reason in text.output
        assert "next: set" in text.output
        assert "Traceback" not in text.output
        [error] = json.loads(as_json.output)["errors"]
        assert error["field"] == variable and reason in error["reason"]
    assert not database.exists()  # nothing was made of a hub that could not start


@pytest.mark.postgresql_only
def test_backup_and_restore_of_a_postgresql_hub_point_to_its_own_tools(backend, seeded, tmp_path):
    for args in (["backup", str(tmp_path / "hub.bak")], ["restore", str(tmp_path / "hub.bak"), "--force"]):
        result = cli(seeded, *args)
        assert result.exit_code == 1 and "runs on PostgreSQL" in result.output and "pg_dump" in result.output, args
    assert not (tmp_path / "hub.bak").exists()
    assert seeded.replica.entity("job", "job-1")  # nothing was harmed


def test_a_restore_never_gives_a_device_revoked_after_the_backup_its_access_back(client, seeded, device, tmp_path):
    dev, token = device
    backup_file = tmp_path / "hub.bak"
    admin.backup(seeded.config.database, seeded.config.blobs, backup_file)
    assert cli(seeded, "revoke", dev.node).exit_code == 0  # the tablet is lost after the backup
    seeded.close()

    result = cli(seeded, "restore", str(backup_file), "--force")
    assert result.exit_code == 0, result.output
    assert f"still revoked (revoked after the backup): {dev.node}" in result.stdout
    reopened = HubStore(seeded.config)
    try:
        assert auth.get_device(reopened, dev.node).revoked_at
    finally:
        reopened.close()


# -- users -----------------------------------------------------------------------------------------
def test_users_are_listed_and_a_revoked_token_stops_working_at_once(client, seeded):
    office = cli(seeded, "user", "add", "dispatch", "--perm", "service_management:read", "--json")
    token = json.loads(office.stdout)["token"]
    assert client.get("/api/v1/customers", headers=bearer(token)).status_code == 200
    listed = json.loads(cli(seeded, "user", "list", "--json").stdout)
    assert [(u["name"], u["permissions"], u["revoked_at"]) for u in listed] == [
        ("dispatch", ["service_management:read"], None)]
    assert token not in cli(seeded, "user", "list").stdout  # only its hash is kept

    result = cli(seeded, "user", "revoke", "dispatch")
    assert result.exit_code == 0 and "its token no longer works" in result.stdout
    refused = client.get("/api/v1/customers", headers=bearer(token))
    assert refused.status_code == 401 and refused.json["errors"][0]["field"] == "Authorization"
    assert json.loads(cli(seeded, "user", "list", "--json").stdout)[0]["revoked_at"]


@pytest.mark.parametrize("args, field, words", [
    (["user", "add", "", "--perm", "service_management:read"], "name", "1 to 64 characters"),
    (["user", "add", "portal", "--perm", "service_management:read", "--customer", "ghost"], "customer_id",
     "no customer"),
    (["user", "revoke", "nobody"], "name", "unknown user"),
    (["revoke", "dev-nobody"], "node", ""),
])
def test_admin_refusals_name_the_field_in_text_and_in_json(seeded, args, field, words):
    text = cli(seeded, *args)
    assert text.exit_code == 1 and words in text.stderr and "Traceback" not in text.output
    as_json = cli(seeded, *args, "--json")
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)
    assert error["ok"] is False and error["error"] and field in [e["field"] for e in error["errors"]]
    assert json.loads(cli(seeded, "user", "list", "--json").stdout) == []  # nothing was stored


def test_an_enrolment_code_is_for_an_active_technician_or_a_van_never_a_warehouse(seeded):
    seeded.write([("stock_location", "wh-1", SET, "kind", "warehouse"),
                  ("stock_location", "wh-1", SET, "name", "Depot"),
                  ("technician", "tech-gone", SET, "name", "Left in May"),
                  ("technician", "tech-gone", SET, "active", False)])
    for args, field, words in ((["--van", "wh-1"], "van_id", "is a warehouse, not a van"),
                               (["--technician", "tech-gone"], "technician_id", "is not active")):
        refused = cli(seeded, "enrol", *args)
        assert refused.exit_code == 1 and words in refused.stderr, refused.output
        assert field in [e["field"] for e in json.loads(cli(seeded, "enrol", *args, "--json").stdout)["errors"]]
    assert cli(seeded, "enrol", "--van", "van-7").exit_code == 0
    assert cli(seeded, "enrol", "--technician", "tech-1").exit_code == 0
