"""The technician's commands as typed: ``fieldsync-agent`` with no hub reachable, then synced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from device_agent.cli import main
from hub.app import store_of

from .test_visit import give_checklist, hours_from_now, hub_quarantine, hub_view, zone  # noqa: F401 (a fixture)

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers, as in a basement


class Tablet:
    """A tablet driven through the CLI, with a switch for the network."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def run(self, *args: str, ok: bool = True):
        result = self.runner.invoke(main, ["--home", str(self.home), *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, ok: bool = True):
        result = self.run("--json", *args, ok=ok)
        return json.loads(result.stdout)

    def set_hub(self, url: str) -> str:
        config = json.loads((self.home / "agent.json").read_text())
        previous, config["hub_url"] = config["hub_url"], url
        (self.home / "agent.json").write_text(json.dumps(config))
        return previous


@pytest.fixture
def tablet(hub, code, tmp_path):
    give_checklist(hub)
    device = Tablet(tmp_path / "tablet")
    device.run("enrol", "--code", code(), "--hub", hub.url)
    device.run("sync")
    device.set_hub(UNREACHABLE)
    return device


@pytest.fixture
def files(tmp_path):
    (tmp_path / "fix.json").write_text(json.dumps({"lat": 51.4545, "lon": -2.5879, "accuracy_m": 8}))
    (tmp_path / "IMG_0142.jpg").write_bytes(b"\xff\xd8\xff" + b"pixels" * 500)
    (tmp_path / "signature.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"ink" * 100)
    return tmp_path


def test_a_whole_visit_typed_offline_then_synced(hub, tablet, files):
    assert "scheduled -> accepted" in tablet.run("accept", "job-1").output
    tablet.run("depart", "job-1")
    arrived = tablet.json("check-in", "job-1", "--gps-file", str(files / "fix.json"))
    assert arrived["records"][0]["value"]["lat"] == 51.4545 and arrived["changes"][0]["to"] == "on_site"
    tablet.run("step", "job-1", "isolate", "--note", "breaker 4 locked off")
    tablet.run("step", "job-1", "replace")
    tablet.run("log-time", "job-1", "--start", "2026-11-27T09:10:00+00:00", "--end", "2026-11-27T10:25:00+00:00",
               "--description", "replace capacitor")
    used = tablet.run("use-part", "job-1", "CAP-45", "1")
    assert "van-7 CAP-45: 2 -> 1" in used.output and "waiting to sync" in used.output
    tablet.run("photo", "job-1", str(files / "IMG_0142.jpg"), "--stage", "before", "--caption", "burnt capacitor")
    signed = tablet.run("sign", "job-1", "--image", str(files / "signature.png"), "--signer", "M. Jones")
    assert "1 x CAP-45 Capacitor 45uF (from van-7)" in signed.output and "75 min labour" in signed.output
    shown = tablet.json("summary", "job-1")
    assert shown["signed"]["matches_current"] and shown["signed"]["summary"] == shown["current"]
    done = tablet.json("complete", "job-1", "--notes", "capacitor replaced")
    assert done["warnings"] == [] and done["waiting"]["files"] == 3
    tablet.run("comment", "job-1", "Unit cooling again")
    assert tablet.json("status")["last_sync_at"]  # the one sync before going offline

    tablet.set_hub(hub.url)
    synced = tablet.json("sync")
    assert synced["summary"]["rejected"] == [] and synced["status"]["pending_ops"] == 0
    assert synced["summary"]["blobs_uploaded"] == 3
    assert hub_quarantine(hub) == []
    job = hub_view(hub, "job", "job-1")
    assert job["status"] == "completed" and job["completion_notes"] == "capacitor replaced"
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 1


def test_a_part_beyond_the_van_stock_warns_on_stderr_and_the_hub_takes_it(hub, tablet):
    result = tablet.run("use-part", "job-1", "CAP-45", "3")
    assert "warning: van-7 held 2 CAP-45; it now shows -1" in result.stderr
    assert "recorded: used 3 x CAP-45" in result.stdout
    assert "below zero" in tablet.run("van", "stock").output
    data = tablet.json("use-part", "job-1", "CAP-45", "1")
    assert len(data["warnings"]) == 1 and data["ok"]
    tablet.set_hub(hub.url)
    tablet.run("sync")
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == -2 and hub_quarantine(hub) == []


@pytest.mark.parametrize(("args", "field", "words"), [
    (["check-in", "job-1", "--lat", "95", "--lon", "0"], "lat", "90"),
    (["check-in", "job-1", "--lat", "51"], "lon", "--lat and --lon"),
    (["use-part", "job-1", "CAP-45", "0"], "qty", "more than zero"),
    (["step", "job-1", "paint"], "step_id", "valid steps: isolate, replace, tidy"),
    (["accept", "job-9"], "job", "no job job-9"),
    (["complete", "job-1"], "status", "job-1 is scheduled"),
    (["van", "receive-kit", "CAP-45=1"], "device", "terminal"),
])
def test_bad_input_is_refused_with_the_field_named_and_nothing_recorded(tablet, args, field, words):
    before = tablet.json("status")["recorded_ops"]
    refused = tablet.json(*args, ok=False)
    assert refused["ok"] is False and refused["status"] == 1
    assert refused["errors"][0]["field"] == field and words in refused["errors"][0]["reason"]
    said = tablet.run(*args, ok=False)
    assert said.exit_code == 1 and "not recorded" in said.output and field in said.output
    assert tablet.json("status")["recorded_ops"] == before


@pytest.mark.parametrize(("name", "start", "end", "option", "words"), [
    ("UTC", "0001-01-01T00:00", "0001-01-01T01:00", "--start", "is before 2000"),
    ("UTC", "1970-01-01T09:00", "1970-01-01T10:00", "--start", "is before 2000"),
    ("Pacific/Kiritimati", "9999-12-31T22:00", "9999-12-31T23:00", "--start", "is more than a day ahead"),
    ("Europe/London", None, "9999-12-31T23:00", "--end", "is more than a day ahead"),
])
def test_log_time_far_from_now_is_refused_naming_the_option_never_with_a_traceback(
        hub, tablet, zone, name, start, end, option, words):  # noqa: F811 (zone: the fixture)
    zone(name)
    start = start or hours_from_now(-1)
    args = ["log-time", "job-1", "--start", start, "--end", end]
    before = tablet.json("status")["recorded_ops"]
    said = tablet.run(*args, ok=False)
    assert isinstance(said.exception, SystemExit) and said.exit_code == 1, said.output
    assert "Traceback" not in said.output and "not recorded" in said.output
    assert f"{option} {start if option == '--start' else end} {words}" in said.output
    assert "type the date and time the work was done" in said.output
    refused = tablet.json(*args, ok=False)
    assert refused["ok"] is False and refused["status"] == 1
    assert [e["field"] for e in refused["errors"]] == ["started_at" if option == "--start" else "ended_at"]
    assert refused["errors"][0]["reason"].startswith(option) and words in refused["errors"][0]["reason"]
    assert tablet.json("status")["recorded_ops"] == before
    tablet.set_hub(hub.url)
    tablet.run("sync")
    with store_of(hub.app).reading():
        assert store_of(hub.app).replica.entity_ids("time_log") == []


def test_a_refusal_says_what_to_do_next(tablet):
    tablet.run("check-in", "job-1", "--lat", "51.45", "--lon", "-2.58")
    tablet.run("complete", "job-1")
    said = tablet.run("accept", "job-1", ok=False)
    assert "job-1 is already completed" in said.output
    said = tablet.run("step", "job-1", "paint", ok=False)
    assert "next: 'fieldsync-agent show job-1' lists the checklist" in said.output


def test_a_command_before_enrolment_says_how_to_enrol(tmp_path):
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "nothing"), "--json", "accept", "job-1"])
    assert result.exit_code == 1
    assert "enrol" in json.loads(result.stdout)["hint"]


def test_void_takes_a_record_back_and_puts_the_part_back_in_the_van(tablet):
    used = tablet.json("use-part", "job-1", "CAP-45", "2")
    record_id = used["records"][0]["id"]
    voided = tablet.json("void", "part_usage", record_id, "--reason", "wrong job")
    assert voided["ok"] and tablet.json("van", "stock")["stock"][0]["on_hand"] == "2"


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_visit_and_van_command_is_documented_with_an_example():
    runner = CliRunner()
    mine = {"accept", "depart", "check-in", "check-out", "step", "log-time", "use-part", "photo", "sign",
            "summary", "complete", "problem", "comment", "void", "van stock", "van receive-kit", "van count",
            "van hand-out"}
    found = dict(_commands(main))
    assert mine <= set(found)
    for name in sorted(mine):
        shown = runner.invoke(main, [*name.split(), "--help"])
        assert shown.exit_code == 0, name
        assert "Example" in shown.output, f"{name} --help shows no example"
        assert not found[name].get_short_help_str(limit=60).endswith("..."), f"{name}: short help is cut"
        for parameter in found[name].params:
            if isinstance(parameter, click.Option) and parameter.name != "help":
                assert parameter.help, f"{name} {parameter.opts[0]} has no help"


def test_the_installed_console_script_records_offline_and_syncs(hub, code, tmp_path, files):
    script = Path(sys.executable).with_name("fieldsync-agent")
    home = tmp_path / "tablet"
    environment = {**os.environ, "FIELDSYNC_AGENT_HOME": str(home)}

    def agent(*args: str) -> dict:
        done = subprocess.run([str(script), "--json", *args], capture_output=True, text=True, env=environment,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    agent("enrol", "--code", code(), "--hub", hub.url)
    agent("sync")
    Tablet(home).set_hub(UNREACHABLE)
    agent("accept", "job-1")
    assert agent("check-in", "job-1", "--gps-file", str(files / "fix.json"))["changes"][-1]["to"] == "on_site"
    used = agent("use-part", "job-1", "CAP-45", "3")
    assert used["warnings"] and used["waiting"]["ops"] >= 6
    Tablet(home).set_hub(hub.url)
    assert agent("sync")["summary"]["rejected"] == []
    assert hub_view(hub, "job", "job-1")["status"] == "on_site"
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == -1
    assert hub_quarantine(hub) == []


def test_the_van_terminal_receives_counts_and_hands_out_offline_and_the_hub_sums_it(hub, code, tmp_path):
    terminal = Tablet(tmp_path / "van")
    terminal.run("enrol", "--code", code("van", "van-7"), "--hub", hub.url)
    terminal.run("sync")
    terminal.set_hub(UNREACHABLE)
    received = terminal.json("van", "receive-kit", "CAP-45=5", "--kit", "kit-118")
    assert received["records"][0]["value"]["reason"] == "kit_in" and received["records"][0]["value"]["qty"] == "5"
    assert "adjusted by -1" in terminal.run("van", "count", "CAP-45", "6").output
    handed = terminal.json("van", "hand-out", "CAP-45", "7", "--technician", "tech-1", "--job", "job-1")
    assert handed["warnings"] and "it now shows -1" in handed["warnings"][0]
    assert terminal.json("van", "stock")["stock"] == [
        {"van": "van-7", "sku": "CAP-45", "name": "Capacitor 45uF", "unit": "ea", "on_hand": "-1"}]
    refused = terminal.json("accept", "job-1", ok=False)
    assert refused["errors"][0]["field"] == "device"
    terminal.set_hub(hub.url)
    assert terminal.json("sync")["summary"]["rejected"] == []
    assert hub_view(hub, "stock", "van-7:CAP-45")["on_hand"] == 2 + 5 - 1 - 7
    assert hub_quarantine(hub) == []
