"""Every command's failure reads the same to a script: with ``--json``, the one error shape on
stdout (``{"ok": false, "error", "errors", "hint", "status"}``) and a non-zero exit — not text on
stderr for some commands and JSON for others. Sync says, in words, what left the device."""

from __future__ import annotations

import json

import pytest

from hub import auth
from hub.app import store_of
from sync.ops import APPEND, MOVE, SET

from .test_cli import UNREACHABLE, Tablet


@pytest.fixture
def enrolled(hub, code, tmp_path):
    device = Tablet(tmp_path / "tablet")
    device.run("enrol", "--code", code(), "--hub", hub.url)
    return device


def failure(result):
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)
    assert error["ok"] is False and error["status"] == 1 and error["error"] and "errors" in error
    return error


def test_a_home_with_no_enrolled_agent_fails_in_json_for_every_command(tmp_path):
    tablet = Tablet(tmp_path / "nobody")
    for command in (["status"], ["jobs"], ["show", "job-1"], ["sync"]):
        error = failure(tablet.run("--json", *command, ok=False))
        assert "no enrolled agent" in error["error"] and "enrol" in error["hint"]


def test_an_unknown_job_an_unreachable_hub_and_a_second_enrolment_fail_in_json(enrolled, code):
    assert "job-404" in failure(enrolled.run("--json", "show", "job-404", ok=False))["error"]
    enrolled.set_hub(UNREACHABLE)
    error = failure(enrolled.run("--json", "sync", ok=False))
    assert "cannot reach the hub" in error["error"] and error["hint"]
    error = failure(enrolled.run("--json", "enrol", "--code", code(), "--hub", UNREACHABLE, ok=False))
    assert "already holds an enrolled agent" in error["error"]


def test_without_json_a_failure_is_a_message_and_what_to_do_next(tmp_path):
    result = Tablet(tmp_path / "nobody").run("status", ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert "no enrolled agent" in result.stderr and "next: run 'fieldsync-agent enrol" in result.stderr


def test_a_reassigned_job_is_named_and_its_records_are_counted(hub, enrolled, tmp_path):
    photo = tmp_path / "IMG_0142.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"pixels" * 500)
    enrolled.run("sync")
    enrolled.run("photo", "job-1", str(photo))
    enrolled.run("sync")
    store_of(hub.app).write([("job", "job-1", SET, "technician_id", "tech-9")])  # dispatch moved it
    out = enrolled.run("sync").stdout
    assert "job job-1 is no longer yours (reassigned)" in out
    assert "record(s) of work no longer yours left this device" in out and "attachment" not in out


def test_work_the_office_overruled_is_reported_by_sync_and_shown_with_why(hub, enrolled):
    enrolled.run("sync")
    hub_url = enrolled.set_hub(UNREACHABLE)
    store_of(hub.app).write([("job", "job-1", MOVE, "status", "cancelled")])  # the customer called it off
    enrolled.run("accept", "job-1")  # offline: the tablet does not know yet
    enrolled.run("depart", "job-1")
    enrolled.set_hub(hub_url)
    out = enrolled.run("sync").stdout
    # The departure comes after the cancellation whatever the two clocks say (the acceptance
    # may land either side of it, a few milliseconds apart).
    assert "conflict on job job-1: status: 'en_route'" in out
    assert "was kept but not applied — cannot move from cancelled to en_route" in out
    card = enrolled.run("show", "job-1").stdout
    assert "conflict kept: status: 'en_route'" in card and "cannot move from cancelled" in card
    assert enrolled.json("sync")["summary"]["conflicts"] == []  # reported once, by the sync that brought it


def test_the_asset_history_lists_past_visits_latest_first_then_open_jobs_in_words(hub, enrolled):
    def job_on_the_asset(n, opened, technician):
        return [("ticket", f"tkt-{n}", SET, "customer_id", "cust-1"),
                ("ticket", f"tkt-{n}", SET, "asset_id", "asset-1"),
                ("ticket", f"tkt-{n}", SET, "title", f"Visit {n}"), ("ticket", f"tkt-{n}", SET, "opened_at", opened),
                ("work_order", f"wo-{n}", SET, "ticket_id", f"tkt-{n}"),
                ("job", f"job-{n}", SET, "work_order_id", f"wo-{n}"), ("job", f"job-{n}", SET, "ticket_id", f"tkt-{n}"),
                ("job", f"job-{n}", SET, "technician_id", technician)]

    store = store_of(hub.app)
    store.write([*job_on_the_asset(2, "2026-09-01T08:00:00+00:00", "tech-9"),
                 *job_on_the_asset(3, "2026-10-01T08:00:00+00:00", "tech-9"),
                 *job_on_the_asset(4, "2026-12-01T08:00:00+00:00", "tech-9"),  # due later, not started
                 ("job", "job-3", SET, "completion_notes", "replaced the fan")])
    store.write([("job", job, MOVE, "status", state) for job in ("job-2", "job-3")
                 for state in ("en_route", "on_site", "completed")])
    store.write([("part_usage", "pu-3", APPEND, "", {
        "job_id": "job-3", "sku": "FAN-12", "qty": "1", "location_id": "van-9",
        "device_time": "2026-10-01T10:00:00+00:00"})])
    enrolled.run("sync")
    card = enrolled.run("show", "job-1").stdout
    assert "2 earlier visit(s)" in card
    lines = [line.strip() for line in card.splitlines()]
    history = [line for line in lines if line.startswith("job-")]
    assert history == ["job-3: Visit 3 — completed: replaced the fan; 1 x FAN-12",
                       "job-2: Visit 2 — completed: no notes; no parts",
                       "job-4: Visit 4 — still open (scheduled); no parts"]
    parts = enrolled.json("show", "job-1")["asset"]["history"][0]["parts"]
    assert parts == [{"sku": "FAN-12", "qty": "1"}]


def test_a_finished_job_says_so_and_sends_nobody_in_a_circle(enrolled):
    enrolled.run("sync")
    for command in (["depart", "job-1"], ["check-in", "job-1", "--lat", "51.45", "--lon", "-2.59"],
                    ["complete", "job-1"]):
        enrolled.run(*command)
    for command in (["complete", "job-1"], ["problem", "job-1", "--reason", "no access"]):
        refused = enrolled.run(*command, ok=False)
        assert "job-1 is already completed" in refused.stderr
        assert "check in first" not in refused.stderr and "the job is finished" in refused.stderr


def test_a_part_from_a_location_unknown_here_is_recorded_with_a_warning_and_bad_quantities_say_how(enrolled):
    enrolled.run("sync")
    used = enrolled.run("use-part", "job-1", "CAP-45", "1", "--from", "nowhere")
    assert "recorded: used 1 x CAP-45 on job-1 from nowhere" in used.stdout
    assert "'nowhere' is not a location this device holds" in used.stderr
    refused = enrolled.json("use-part", "job-1", "CAP-45", "lots", ok=False)
    assert refused["errors"] == [{"field": "qty", "reason": "'lots' is not a quantity: give a number such as 2 or "
                                                            "1.5 (at most 6 decimals)"}]


def test_an_address_that_is_not_a_hub_address_is_named_as_such(tmp_path, code):
    refused = Tablet(tmp_path / "tablet").json("enrol", "--code", code(), "--hub", "notaurl", ok=False)
    assert refused["error"] == "'notaurl' is not a hub address" and "http://HOST:PORT" in refused["hint"]
    assert not (tmp_path / "tablet" / "agent.json").exists()


def test_a_revoked_tablet_says_so_in_its_status_and_what_cannot_reach_the_hub(hub, enrolled):
    enrolled.run("sync")
    node = json.loads((enrolled.home / "agent.json").read_text())["node"]
    auth.revoke_device(store_of(hub.app), node)  # the administrator cut it off
    enrolled.run("accept", "job-1")
    refused = enrolled.json("sync", ok=False)
    assert refused["status"] == 1 and "revoked" in refused["error"]
    status = enrolled.run("status").stdout
    assert "THE HUB REFUSES THIS DEVICE: this device has been revoked — the 1 op(s) waiting here" in status
    assert enrolled.json("status")["cut_off"] == "this device has been revoked"


def test_the_stock_side_of_a_part_used_is_voided_only_with_the_use(enrolled):
    enrolled.run("sync")
    used = enrolled.json("use-part", "job-1", "CAP-45", "1")
    [usage_id] = [r["id"] for r in used["records"] if r["entity"] == "part_usage"]
    refused = enrolled.json("void", "stock_move", usage_id, "--reason", "wrong part", ok=False)
    assert refused["errors"][0]["field"] == "record_id" and f"void part_usage {usage_id}" in refused["hint"]
    voided = enrolled.run("void", "part_usage", usage_id, "--reason", "wrong part").stdout
    assert "voided part_usage" in voided and "on hand +1" in voided
