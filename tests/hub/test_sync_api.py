"""The sync API as a device meets it: enrol, hello, pull its scope, push its work."""

from sync import hlc
from sync.ops import APPEND, MOVE, SET, Op, to_wire

from .conftest import NOW_MS


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def pull_all(client, token, cursor=0, limit=1000):
    ops = []
    while True:
        reply = client.post("/api/v1/sync/pull", json={"cursor": cursor, "limit": limit}, headers=bearer(token)).json
        ops.extend(reply["ops"])
        cursor = reply["cursor"]
        if not reply["more"]:
            return ops, cursor, reply


def test_a_new_tablet_receives_its_job_and_everything_the_visit_needs(client, device):
    _, token = device
    ops, _, _ = pull_all(client, token, limit=7)
    received = {(op[3], op[4]) for op in ops}
    for wanted in [("job", "job-1"), ("work_order", "wo-1"), ("ticket", "tkt-1"), ("customer", "cust-1"),
                   ("site", "site-1"), ("asset", "asset-1"), ("technician", "tech-1"), ("item", "CAP-45"),
                   ("stock", "van-7:CAP-45"), ("stock_location", "van-7")]:
        assert wanted in received


def test_a_job_assigned_to_someone_else_never_reaches_the_tablet(client, seeded, device):
    seeded.write([("job", "job-2", SET, "work_order_id", "wo-1"), ("job", "job-2", SET, "technician_id", "tech-9")])
    ops, _, _ = pull_all(client, device[1])
    assert ("job", "job-2") not in {(op[3], op[4]) for op in ops}


def test_reassigning_a_job_away_tells_the_tablet_once_then_stops(client, seeded, device):
    _, token = device
    _, cursor, _ = pull_all(client, token)
    seeded.write([("job", "job-1", SET, "technician_id", "tech-9")])
    ops, cursor, last = pull_all(client, token, cursor)
    assert ["job", "job-1", "technician_id"] in [[op[3], op[4], op[6]] for op in ops]
    seeded.write([("job", "job-1", SET, "completion_notes", "seen by tech-9 only")])
    ops, _, last = pull_all(client, token, cursor)
    assert ops == []


def test_pushed_work_is_merged_and_refusals_are_reported_with_their_reason(client, seeded, device):
    dev, token = device
    now = NOW_MS
    ops = [
        Op(dev.node, 1, hlc.pack(now), "job", "job-1", MOVE, "status", "accepted"),
        Op(dev.node, 2, hlc.pack(now + 1), "time_log", "tl-1", APPEND, "", {
            "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00Z",
            "ended_at": "2026-11-27T10:00:00Z"}),
        Op(dev.node, 3, hlc.pack(now + 2), "customer", "cust-1", SET, "name", "not yours to change"),
    ]
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json
    assert reply["accepted"] == 2
    assert reply["rejected"] == [{"id": [dev.node, 3], "field": "entity", "clock_ahead": False,
                                  "reason": "a technician device may not change customer records"}]
    assert reply["hub_has"] == 3
    assert seeded.replica.entity("job", "job-1")["status"] == "accepted"
    assert seeded.replica.entity("customer", "cust-1")["name"] == "Harbour Hotel"
    again = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json
    assert again["accepted"] == 0 and again["duplicates"] == 2 and len(again["rejected"]) == 1


def test_ops_forged_as_another_node_are_refused_whole_and_nothing_is_stored(client, seeded, device):
    dev, token = device
    before = seeded.replica.canonical()
    ops = [Op(dev.node, 1, hlc.pack(NOW_MS), "job", "job-1", MOVE, "status", "accepted"),
           Op("hub", 999, hlc.pack(NOW_MS), "job", "job-1", SET, "technician_id", "tech-1")]
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token))
    assert reply.status_code == 403
    assert reply.json["errors"] == [{"field": "ops.1.node", "reason": f"'hub' is not this device ({dev.node})"}]
    assert seeded.replica.canonical() == before


def test_a_revoked_tablet_is_refused_at_once(client, seeded, device):
    from hub import auth

    dev, token = device
    auth.revoke_device(seeded, dev.node)
    reply = client.post("/api/v1/sync/pull", json={"cursor": 0}, headers=bearer(token))
    assert reply.status_code == 401
    assert reply.json["error"] == "this device has been revoked"


def test_malformed_batches_are_answered_400_naming_the_field(client, device):
    _, token = device
    reply = client.post("/api/v1/sync/push", json={"ops": [["dev", 0, 1]]}, headers=bearer(token))
    assert reply.status_code == 400
    assert reply.json["errors"][0]["field"] == "ops.0.op"
    reply = client.post("/api/v1/sync/push", json={"ops": "nope"}, headers=bearer(token))
    assert reply.status_code == 400 and reply.json["errors"][0]["field"] == "ops"


def test_a_crew_member_receives_the_job_and_may_record_on_it(client, seeded):
    from hub import auth
    from sync.ops import ADD

    seeded.write([("technician", "tech-2", SET, "name", "Ben Okafor"),
                  ("job", "job-1", ADD, "crew_ids", "tech-2")])
    dev, token = auth.enrol(seeded, auth.create_enrolment_code(seeded, "technician", "tech-2", "Ben"), "Ben", "t")
    ops, _, _ = pull_all(client, token)
    assert ("job", "job-1") in {(op[3], op[4]) for op in ops}
    log = Op(dev.node, 1, hlc.pack(NOW_MS), "time_log", "tl-ben", APPEND, "", {
        "job_id": "job-1", "technician_id": "tech-2", "started_at": "2026-11-27T09:00:00Z",
        "ended_at": "2026-11-27T09:30:00Z"})
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(log)]}, headers=bearer(token)).json
    assert reply["accepted"] == 1 and reply["rejected"] == []


def test_a_pull_overtaken_by_another_pull_of_the_same_device_is_refused_and_writes_nothing(client, seeded, device,
                                                                                           monkeypatch):
    """A pull is made on a snapshot and its offer recorded after. Another pull of the device
    answered in between (a second agent on the token, a retry overtaking its first try) makes
    the first one's offer stale: 503 to retry, and the device's sync state is the other pull's."""
    from hub import auth, sync_api

    dev, token = device
    real_pull = sync_api._pull
    overtaken = []

    def pull_then_another(view, *args, **kwargs):
        made = real_pull(view, *args, **kwargs)
        if not overtaken:
            overtaken.append(None)  # the pull below is the other one: it runs unhindered
            overtaken[0] = client.post("/api/v1/sync/pull", json={"cursor": 0}, headers=bearer(token))
        return made

    monkeypatch.setattr(sync_api, "_pull", pull_then_another)
    first = client.post("/api/v1/sync/pull", json={"cursor": 0}, headers=bearer(token))
    assert overtaken[0].status_code == 200
    assert first.status_code == 503
    assert first.json["errors"] == [{"field": "device", "reason": "another pull of this device was answered "
                                                                  "meanwhile"}]
    with seeded.reading():
        state = auth.get_device(seeded, dev.node)
    assert state.offer_id == overtaken[0].json["offer"] == 1
    monkeypatch.setattr(sync_api, "_pull", real_pull)
    ops, _, _ = pull_all(client, token)  # the retry goes through
    assert ("job", "job-1") in {(op[3], op[4]) for op in ops}


def test_a_history_of_many_pages_reads_the_log_past_the_tablets_cursor_once(client, seeded, device, monkeypatch):
    """Jobs assigned to a tablet that already holds work arrive over several history pages; each
    page replays its jobs' ops past the tablet's cursor. The log past the cursor is read on the
    first page; later pages read only what landed since."""
    from hub import sync_api

    _, token = device
    _, cursor, _ = pull_all(client, token)
    jobs = [f"job-{n}" for n in range(2, 10)]
    for job in jobs:
        seeded.write([("job", job, SET, "work_order_id", "wo-1"), ("job", job, SET, "technician_id", "tech-9"),
                      ("job", job, SET, "completion_notes", f"{job}: by tech-9")])
    seeded.write([("job", job, SET, "technician_id", "tech-1") for job in jobs])
    windows = sync_api._log_windows
    past_cursor = sum(len(window) for window, _ in windows(seeded.replica, cursor, seeded.replica.log_end(), 100))
    read = []

    def counted(replica, start, end, size):
        for window, past in windows(replica, start, end, size):
            read.extend(window)
            yield window, past

    monkeypatch.setattr(sync_api, "_log_windows", counted)
    pages, sent, read_by_histories = 0, [], 0
    while True:
        read.clear()
        reply = client.post("/api/v1/sync/pull", json={"cursor": cursor, "limit": 4, "ack": None},
                            headers=bearer(token)).json
        if not reply.get("history"):
            break
        pages += 1
        read_by_histories += len(read)
        sent.extend(reply["ops"])
        if pages == 2:  # work on a job still to come lands between two pages
            seeded.write([("job", "job-9", SET, "completion_notes", "job-9: changed mid-sequence")])
        cursor = reply["cursor"]
    assert pages >= 4
    assert read_by_histories <= past_cursor + 1, "each page read the log past the cursor again"
    notes = [op[7] for op in sent if op[4] == "job-9" and op[6] == "completion_notes"]
    assert "job-9: changed mid-sequence" in notes


def test_a_record_the_schema_refuses_is_quarantined_with_its_reason_beside_valid_work(client, seeded, device):
    """The schema's validators run before the push's write slices; what they refuse is still
    quarantined with their reason, and the rest of the slice is accepted."""
    dev, token = device
    ops = [
        Op(dev.node, 1, hlc.pack(NOW_MS), "job", "job-1", MOVE, "status", "accepted"),
        Op(dev.node, 2, hlc.pack(NOW_MS + 1), "time_log", "tl-1", APPEND, "", {
            "job_id": "job-1", "technician_id": "tech-1", "started_at": "not a time",
            "ended_at": "2026-11-27T10:00:00Z"}),
    ]
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json
    assert reply["accepted"] == 1
    [refused] = reply["rejected"]
    assert refused["id"] == [dev.node, 2] and "started_at" in refused["reason"]
    assert seeded.replica.entity("job", "job-1")["status"] == "accepted"
    assert seeded.replica.entity("time_log", "tl-1") == {}
    quarantined = [(row["id"], row["reason"]) for row in seeded.replica.quarantined()]
    assert quarantined == [(f"{dev.node}:2", refused["reason"])]


def test_a_history_whose_entities_grow_between_pages_replays_the_new_ones_from_the_cursor(seeded):
    from hub.sync_api import _ops_past

    cursor = seeded.replica.log_end()
    seeded.write([("job", "job-2", SET, "completion_notes", "two"), ("job", "job-3", SET, "completion_notes", "three")])
    first = _ops_past(seeded, "tablet-1", cursor, {("job", "job-2")})
    assert [op.value for op in first[("job", "job-2")]] == ["two"]
    grown = _ops_past(seeded, "tablet-1", cursor, {("job", "job-2"), ("job", "job-3")})
    assert [op.value for op in grown[("job", "job-3")]] == ["three"]
    assert [op.value for op in grown[("job", "job-2")]] == ["two"]


def test_a_page_made_on_an_older_snapshot_replays_only_what_that_snapshot_holds(seeded):
    from hub.sync_api import _ops_past

    cursor = seeded.replica.log_end()
    seeded.write([("job", "job-2", SET, "completion_notes", "before")])
    keys = {("job", "job-2")}
    with seeded.planning() as older:
        seeded.write([("job", "job-2", SET, "completion_notes", "after")])
        newer = _ops_past(seeded, "tablet-1", cursor, keys)
        from_older = _ops_past(older, "tablet-1", cursor, keys)
    assert [op.value for op in newer[("job", "job-2")]] == ["before", "after"]
    assert [op.value for op in from_older[("job", "job-2")]] == ["before"]


def test_work_on_a_job_assigned_since_the_tablets_last_pull_is_accepted_and_elsewhere_refused(client, seeded, device):
    """A push is checked first against the scopes the tablet synced; a job assigned since (the
    tablet heard of it some other way, or pushes before it pulls) is found in its current scope."""
    dev, token = device
    pull_all(client, token)
    seeded.write([("job", "job-2", SET, "work_order_id", "wo-1"), ("job", "job-2", SET, "technician_id", "tech-1"),
                  ("job", "job-3", SET, "work_order_id", "wo-1"), ("job", "job-3", SET, "technician_id", "tech-9")])
    ops = [Op(dev.node, 1, hlc.pack(NOW_MS), "job", "job-1", MOVE, "status", "accepted"),
           Op(dev.node, 2, hlc.pack(NOW_MS + 1), "job", "job-2", MOVE, "status", "accepted"),
           Op(dev.node, 3, hlc.pack(NOW_MS + 2), "job", "job-3", MOVE, "status", "accepted")]
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json
    assert reply["accepted"] == 2
    assert [(r["id"], r["field"]) for r in reply["rejected"]] == [([dev.node, 3], "eid")]
    assert seeded.replica.entity("job", "job-2")["status"] == "accepted"
    assert "status" not in seeded.replica.entity("job", "job-3")


def test_a_time_log_before_2000_pushed_by_anything_but_the_tablet_is_quarantined_naming_started_at(
        client, seeded, device):
    """The tablet refuses such a time as it is typed; a record sent another way (an older agent,
    a script) meets the same rule at the hub instead of being billed for 1950."""
    dev, token = device
    ops = [Op(dev.node, 1, hlc.pack(NOW_MS), "time_log", "tl-1950", APPEND, "", {
        "job_id": "job-1", "technician_id": "tech-1", "started_at": "1950-06-01T09:00:00Z",
        "ended_at": "1950-06-01T10:00:00Z"})]
    reply = client.post("/api/v1/sync/push", json={"ops": [to_wire(op) for op in ops]}, headers=bearer(token)).json
    [refused] = reply["rejected"]
    assert refused["id"] == [dev.node, 1]
    assert "started_at" in refused["reason"] and "2000 or later" in refused["reason"]
    assert seeded.replica.entity("time_log", "tl-1950") == {}
    assert [row["id"] for row in seeded.replica.quarantined()] == [f"{dev.node}:1"]
