"""A technician works a visit on the tablet with no network, then syncs: the library commands."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from device_agent import Agent
from device_agent import visit as v
from device_agent.van import IdClock
from device_agent.views import job_card
from hub.app import store_of
from sync.ops import SET

CHECKLIST = [
    {"step_id": "isolate", "text": "Isolate the unit at the breaker", "required": True},
    {"step_id": "replace", "text": "Replace the run capacitor", "required": True},
    {"step_id": "tidy", "text": "Tidy the plant room", "required": False},
]
FIX = v.Fix(51.4545, -2.5879, 8)


class Offline:
    """A transport for a tablet in a basement: any use of the network fails the test."""

    def call(self, *args, **kwargs):
        raise AssertionError(f"a visit command tried to reach the hub: {args}")


def give_checklist(hub, checklist=CHECKLIST):
    """Dispatch adds a checklist to the seeded work order (before the tablet syncs)."""
    store_of(hub.app).write([("work_order", "wo-1", SET, "checklist", checklist)])


def hub_view(hub, entity, eid):
    store = store_of(hub.app)
    with store.reading():
        return store.replica.entity(entity, eid)


def hub_quarantine(hub):
    store = store_of(hub.app)
    with store.reading():
        return store.replica.quarantined()


def enrolled(hub, code, home, kind="technician", subject="tech-1"):
    """Enrol and sync once online, then hand back the agent reopened with no network."""
    with Agent.enrol(home, hub.url, code(kind, subject)) as agent:
        agent.sync()
    return Agent.open(home, transport=Offline())


def online(home):
    return Agent.open(home)


@pytest.fixture
def tablet(hub, code, tmp_path):
    give_checklist(hub)
    agent = enrolled(hub, code, tmp_path / "tablet")
    yield agent
    agent.close()


@pytest.fixture
def files(tmp_path):
    photo = tmp_path / "IMG_0142.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    signature = tmp_path / "signature.png"
    signature.write_bytes(b"\x89PNG\r\n\x1a\n" + b"ink" * 100)
    return photo, signature


def recorded_ops(agent):
    return agent.status()["recorded_ops"]


def test_a_full_visit_recorded_offline_then_synced_is_all_accepted_by_the_hub(hub, tablet, files, tmp_path):
    photo, signature = files
    assert v.accept(tablet, "job-1").changes == [{"entity": "job", "id": "job-1", "field": "status",
                                                  "to": "accepted"}]
    v.depart(tablet, "job-1")
    arrived = v.check_in(tablet, "job-1", FIX)
    assert arrived.records[0]["value"]["direction"] == "in" and arrived.records[0]["value"]["device_time"]
    v.step(tablet, "job-1", "isolate", note="breaker 4 locked off")
    v.step(tablet, "job-1", "replace")
    v.log_time(tablet, "job-1", start="2026-11-27T09:10:00+00:00", end="2026-11-27T10:25:00+00:00",
               description="replace capacitor")
    v.log_time(tablet, "job-1", minutes=20, category="travel", billable=False)
    part = v.use_part(tablet, "job-1", "CAP-45", 1)
    assert part.warnings == [] and "van-7 CAP-45: 2 -> 1" in part.description
    pictured = v.photo(tablet, "job-1", photo, caption="burnt capacitor", stage="before")
    signed = v.sign(tablet, "job-1", signature, "M. Jones")
    said = v.comment(tablet, "job-1", "Unit cooling again")
    done = v.complete(tablet, "job-1", "capacitor replaced, unit cooling")
    assert done.warnings == []  # required steps done, signature current
    v.check_out(tablet, "job-1", FIX)

    card = job_card(tablet, "job-1")
    assert card["job"]["status"] == "completed"
    assert [s["done"] for s in card["checklist"]] == [True, True, False]
    pending = tablet.status()
    assert pending["pending_ops"] > 0 and pending["pending_blobs"] == 3  # photo, signature, summary
    tablet.close()

    with online(tablet.home) as agent:
        summary = agent.sync()
        assert summary.rejected == [] and summary.blob_errors == [] and summary.blobs_uploaded == 3
        assert agent.status()["pending_ops"] == 0
    assert hub_quarantine(hub) == []
    job = hub_view(hub, "job", "job-1")
    assert job["status"] == "completed" and job["completion_notes"] == "capacitor replaced, unit cooling"
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 1
    usage = hub_view(hub, "part_usage", part.records[0]["id"])
    assert usage["value"]["qty"] == "1" and not usage["voided"]
    move = hub_view(hub, "stock_move", part.records[0]["id"])
    assert move["value"]["qty"] == "-1" and move["value"]["reason"] == "usage"
    signature_record = hub_view(hub, "signature", signed.records[0]["id"])["value"]
    store = store_of(hub.app)
    summary_file = store.config.blobs / signature_record["summary_sha256"][:2] / signature_record["summary_sha256"]
    assert hashlib.sha256(summary_file.read_bytes()).hexdigest() == signature_record["summary_sha256"]
    assert hub_view(hub, "ticket_comment", said.records[0]["id"])["value"]["visibility"] == "customer"
    attachment = hub_view(hub, "attachment", pictured.records[0]["id"])["value"]
    with store.reading():
        verified = store.conn.execute("SELECT status FROM blobs WHERE sha256 = ?", (attachment["sha256"],)).fetchone()
    assert attachment["stage"] == "before" and attachment["mime"] == "image/jpeg" and verified == ("verified",)


def test_using_more_parts_than_the_van_holds_warns_records_and_the_hub_accepts_it(hub, tablet):
    v.accept(tablet, "job-1")
    used = v.use_part(tablet, "job-1", "CAP-45", 3)
    assert len(used.warnings) == 1 and "van-7 held 2 CAP-45" in used.warnings[0]
    assert "-1" in used.warnings[0]
    assert tablet.replica.entity("stock", "van-7:CAP-45")["on_hand"] == -1
    tablet.close()
    with online(tablet.home) as agent:
        assert agent.sync().rejected == []
    assert hub_quarantine(hub) == []
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == -1
    assert hub_view(hub, "part_usage", used.records[0]["id"])["value"]["qty"] == "3"


def test_a_part_from_another_location_records_the_use_only(tablet):
    used = v.use_part(tablet, "job-1", "CAP-45", "2", location="wh-central")
    assert [r["entity"] for r in used.records] == ["part_usage"] and used.changes == []
    assert "the hub will raise the stock movement for wh-central" in used.description
    assert tablet.replica.entity("stock", "van-7:CAP-45")["on_hand"] == 2


@pytest.mark.parametrize(("moves", "command", "reason"), [
    ([], lambda a: v.complete(a, "job-1"), "job-1 is scheduled; it can move to completed only from on_site or problem"),
    ([], lambda a: v.problem(a, "job-1", "no access"), "job-1 is scheduled"),
    (["accepted"], lambda a: v.accept(a, "job-1"), "job-1 is already accepted"),
    (["accepted", "en_route", "on_site", "completed"], lambda a: v.accept(a, "job-1"),
     "job-1 is already completed"),
    (["accepted", "en_route", "on_site", "completed"], lambda a: v.check_in(a, "job-1", FIX),
     "job-1 is already completed"),
    (["en_route"], lambda a: v.check_out(a, "job-1", FIX), "job-1 is en_route"),
])
def test_a_status_move_that_cannot_apply_is_refused_locally(tablet, moves, command, reason):
    for target in moves:
        tablet.write([("job", "job-1", "move", "status", target)])
    before = recorded_ops(tablet)
    with pytest.raises(v.NotRecorded) as refused:
        command(tablet)
    assert refused.value.field == "status" and reason in refused.value.reason
    assert recorded_ops(tablet) == before


@pytest.mark.parametrize(("command", "field", "words"), [
    (lambda a: v.check_in(a, "job-1", v.Fix(95, -2.5)), "lat", "90"),
    (lambda a: v.check_in(a, "job-1", v.Fix(51, 200)), "lon", "180"),
    (lambda a: v.use_part(a, "job-1", "CAP-45", 0), "qty", "more than zero"),
    (lambda a: v.use_part(a, "job-1", "CAP-45", "two"), "qty", "not a quantity"),
    (lambda a: v.use_part(a, "job-1", "CAP-54", 1), "sku", "did you mean CAP-45"),
    (lambda a: v.step(a, "job-1", "paint"), "step_id", "valid steps: isolate, replace, tidy"),
    (lambda a: v.accept(a, "job-9"), "job", "no job job-9 on this device"),
    (lambda a: v.log_time(a, "job-1", start="2026-11-27T10:00:00+00:00", end="2026-11-27T09:00:00+00:00"),
     "ended_at", "after started_at"),
    (lambda a: v.log_time(a, "job-1", minutes=0), "minutes", "between 1 and 1440"),
    (lambda a: v.log_time(a, "job-1", start="yesterday", end="2026-11-27T09:00:00+00:00"), "started_at", "ISO"),
    (lambda a: v.log_time(a, "job-1", start="0001-01-01T00:00", end="0001-01-01T01:00"), "started_at",
     "--start 0001-01-01T00:00 is before 2000; type the date and time the work was done"),
    (lambda a: v.log_time(a, "job-1", start="1970-01-01T09:00+00:00", end="1970-01-01T10:00+00:00"), "started_at",
     "before 2000"),
    (lambda a: v.log_time(a, "job-1", start="9999-12-31T22:00", end="9999-12-31T23:00"), "started_at",
     "--start 9999-12-31T22:00 is more than a day ahead of this tablet's clock"),
    (lambda a: v.log_time(a, "job-1", start=hours_from_now(-1), end="9999-12-31T23:00-14:00"), "ended_at",
     "if the tablet's clock is wrong, set it first"),
    (lambda a: v.log_time(a, "job-1", start=hours_from_now(25), end=hours_from_now(26)), "started_at",
     "more than a day ahead"),
    (lambda a: v.photo(a, "job-1", "/nonexistent.jpg"), "file", "no file"),
    (lambda a: v.comment(a, "job-1", " "), "body", "needs some text"),
    (lambda a: v.void(a, "part_usage", "nope", "typo"), "record_id", "no part_usage nope"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_recorded(tablet, command, field, words):
    before = (recorded_ops(tablet), tablet.status()["pending_blobs"])
    with pytest.raises(v.NotRecorded) as refused:
        command(tablet)
    assert refused.value.field == field
    assert words.lower() in refused.value.reason.lower()
    assert (recorded_ops(tablet), tablet.status()["pending_blobs"]) == before


def hours_from_now(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat(timespec="seconds")


@pytest.fixture
def zone():
    """Set the tablet's time zone (TZ) for the rest of the test."""
    with pytest.MonkeyPatch.context() as patch:

        def set_zone(name: str) -> None:
            patch.setenv("TZ", name)
            time.tzset()

        yield set_zone
    time.tzset()


@pytest.mark.parametrize(("name", "start", "end", "field", "words"), [
    ("UTC", "0001-01-01T00:00", "0001-01-01T01:00", "started_at", "before 2000"),  # year 0 in UTC
    ("America/New_York", "0001-01-01T00:00", "0001-01-01T01:00", "started_at", "before 2000"),
    ("Pacific/Kiritimati", "9999-12-31T22:00", "9999-12-31T23:00", "started_at", "more than a day ahead"),  # 10000
    ("America/New_York", "9999-12-31T22:00", "9999-12-31T23:00", "started_at", "more than a day ahead"),
    ("Pacific/Kiritimati", "0001-01-01T00:00+14:00", "0001-01-01T01:00+14:00", "started_at", "before 2000"),
])
def test_a_time_at_the_ends_of_the_calendar_is_refused_in_any_zone(tablet, zone, name, start, end, field, words):
    zone(name)
    before = recorded_ops(tablet)
    with pytest.raises(v.NotRecorded) as refused:
        v.log_time(tablet, "job-1", start=start, end=end)
    assert refused.value.field == field and words in refused.value.reason
    assert refused.value.reason.startswith(f"--start {start} ")
    assert recorded_ops(tablet) == before


def test_times_within_the_rule_are_recorded_and_synced_without_a_warning(hub, tablet):
    # Hours ahead of the clock is within the rule: the hub corrects a tablet's times by its offset.
    logged = v.log_time(tablet, "job-1", start=hours_from_now(-23), end=hours_from_now(-22))
    ahead = v.log_time(tablet, "job-1", start=hours_from_now(1), end=hours_from_now(3))
    assert logged.warnings == [] and ahead.warnings == [] and "120 min" in ahead.description
    tablet.close()
    with online(tablet.home) as agent:
        assert agent.sync().rejected == []
    assert hub_quarantine(hub) == []


def test_a_tablet_whose_clock_says_1970_logs_no_time_and_says_to_set_the_clock(hub, tablet):
    tablet.close()
    with Agent.open(tablet.home, transport=Offline(), wall=lambda: 5 * 60 * 1000) as dead_battery:
        before = recorded_ops(dead_battery)
        with pytest.raises(v.NotRecorded) as by_the_clock:
            v.log_time(dead_battery, "job-1", minutes=30)
        assert by_the_clock.value.field == "minutes"
        assert "this tablet's clock says 1970-01-01" in by_the_clock.value.reason
        assert "set its date and time" in by_the_clock.value.reason
        with pytest.raises(v.NotRecorded) as typed:
            v.log_time(dead_battery, "job-1", start=hours_from_now(-2), end=hours_from_now(-1))
        assert typed.value.field == "started_at" and "set it first" in typed.value.reason
        assert recorded_ops(dead_battery) == before


def test_a_bad_stage_stores_no_photo(tablet, files):
    with pytest.raises(v.NotRecorded) as refused:
        v.photo(tablet, "job-1", files[0], stage="someday")
    assert refused.value.field == "stage" and tablet.status()["pending_blobs"] == 0


def test_checking_in_without_marking_departure_walks_the_job_through_en_route(tablet):
    arrived = v.check_in(tablet, "job-1", FIX)
    assert [c["to"] for c in arrived.changes] == ["en_route", "on_site"]
    assert v.job_status(tablet, "job-1") == "on_site"
    again = v.check_in(tablet, "job-1", FIX)
    assert again.changes == [] and "again" in again.description


def test_a_problem_visit_and_the_return_trip(tablet):
    v.check_in(tablet, "job-1", FIX)
    failed = v.problem(tablet, "job-1", "compressor seized")
    assert {c["field"]: c["to"] for c in failed.changes} == {"problem": "compressor seized", "status": "problem"}
    back = v.check_in(tablet, "job-1", FIX)
    assert [c["to"] for c in back.changes] == ["en_route", "on_site"]


def test_complete_warns_about_open_steps_and_a_missing_signature_but_records(tablet):
    v.check_in(tablet, "job-1", FIX)
    v.step(tablet, "job-1", "isolate")
    done = v.complete(tablet, "job-1")
    assert any("required checklist steps not done: replace" in w for w in done.warnings)
    assert any("no customer signature" in w for w in done.warnings)
    assert v.job_status(tablet, "job-1") == "completed"


def test_the_signed_summary_can_be_shown_and_goes_stale_when_records_change(tablet, files):
    v.check_in(tablet, "job-1", FIX)
    v.log_time(tablet, "job-1", minutes=30)
    signed = v.sign(tablet, "job-1", files[1], "M. Jones")
    record = signed.records[0]["value"]
    assert record["image_sha256"] == hashlib.sha256(files[1].read_bytes()).hexdigest()
    shown = v.signed_summary(tablet, "job-1")
    assert shown["matches_current"] and shown["summary"] == signed.details["summary"]
    assert shown["summary"]["totals"]["minutes"] == 30 and shown["summary"]["customer"] == "Harbour Hotel"
    v.use_part(tablet, "job-1", "CAP-45", 1)
    assert not v.signed_summary(tablet, "job-1")["matches_current"]
    assert any("records changed after the customer signed" in w for w in v.complete(tablet, "job-1").warnings)


def test_voiding_a_part_puts_it_back_in_the_van_and_the_hub_agrees(hub, tablet):
    used = v.use_part(tablet, "job-1", "CAP-45", 2)
    voided = v.void(tablet, "part_usage", used.records[0]["id"], "wrong job")
    assert {c["entity"] for c in voided.changes} == {"part_usage", "stock_move", "stock"}
    assert tablet.replica.entity("stock", "van-7:CAP-45")["on_hand"] == 2
    with pytest.raises(v.NotRecorded, match="already voided"):
        v.void(tablet, "part_usage", used.records[0]["id"], "again")
    tablet.close()
    with online(tablet.home) as agent:
        assert agent.sync().rejected == []
    assert hub_quarantine(hub) == []
    assert hub_view(hub, "part_usage", used.records[0]["id"])["voided"]
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 2


def test_a_record_made_by_another_device_cannot_be_voided_here(hub, tablet):
    store_of(hub.app).write([("time_log", "office-tl", "append", "", {
        "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T08:00:00+00:00",
        "ended_at": "2026-11-27T08:30:00+00:00"})])
    tablet.close()
    with online(tablet.home) as agent:
        agent.sync()
        with pytest.raises(v.NotRecorded) as refused:
            v.void(agent, "time_log", "office-tl", "not mine")
    assert refused.value.field == "record_id" and "recorded by hub" in refused.value.reason


def test_visit_commands_belong_to_the_technician_tablet_not_the_van_terminal(hub, code, tmp_path):
    with enrolled(hub, code, tmp_path / "van", "van", "van-7") as terminal:
        with pytest.raises(v.NotRecorded) as refused:
            v.accept(terminal, "job-1")
    assert refused.value.field == "device" and "van stock" in refused.value.hint


def test_record_ids_are_time_ordered_uuid7_strings():
    clock = IdClock()
    ids = [clock.next(1_795_770_000_000) for _ in range(5)] + [clock.next(1_795_770_000_001)]
    assert ids == sorted(ids) and len(set(ids)) == 6
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(ids[0].replace("-", "")[:12], 16) == 1_795_770_000_000
    # A clock set back (the offset learnt at a sync) never makes a later id sort first.
    assert clock.next(1_795_769_000_000) > ids[-1]
    first = v.new_record_id(0)
    assert v.new_record_id(0) > first
