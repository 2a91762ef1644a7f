"""A tablet enrolled with a live hub over HTTP: fetch the job, work it offline, sync."""

from device_agent import Agent
from device_agent.views import job_card, my_jobs
from hub.app import store_of
from sync.ops import APPEND, MOVE, SET


def test_a_tablet_fetches_its_job_works_it_offline_and_syncs(hub, code, tmp_path):
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), "Ana's tablet")
    try:
        summary = agent.sync()
        assert summary.pulled > 0
        assert [j["id"] for j in my_jobs(agent)] == ["job-1"]
        assert job_card(agent, "job-1")["customer"]["name"] == "Harbour Hotel"

        agent.write([("job", "job-1", MOVE, "status", "accepted"),
                     ("job", "job-1", MOVE, "status", "en_route")])
        agent.write([("time_log", "tl-1", APPEND, "", {
            "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
            "ended_at": "2026-11-27T10:00:00+00:00", "description": "diagnosis"})])
        agent.write([("job", "job-1", SET, "completion_notes", "capacitor replaced")])
        assert agent.status()["pending_ops"] == 4

        summary = agent.sync()
        assert summary.accepted == 4 and summary.rejected == []
        assert agent.status()["pending_ops"] == 0
        hub_job = store_of(hub.app).replica.entity("job", "job-1")
        assert hub_job["status"] == "en_route" and hub_job["completion_notes"] == "capacitor replaced"
    finally:
        agent.close()


def test_photos_upload_in_chunks_and_the_hub_verifies_them(hub, code, tmp_path):
    photo = tmp_path / "before.jpg"
    photo.write_bytes(bytes(range(256)) * 3000)  # 768 kB: several chunks
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    try:
        agent.sync()
        digest, size = agent.store_blob(photo, "image/jpeg")
        assert agent.status()["pending_blobs"] == 1
        summary = agent.sync()
        assert summary.blobs_uploaded == 1 and summary.blob_errors == []
        row = store_of(hub.app).conn.execute("SELECT status, size FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
        assert row == ("verified", size)
        assert agent.status()["pending_blobs"] == 0
    finally:
        agent.close()


def test_a_home_folder_of_an_older_agent_gets_the_columns_added_since_and_keeps_its_queue(hub, code, tmp_path):
    photo = tmp_path / "before.jpg"
    photo.write_bytes(b"\xff" * 300_000)
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code())
    digest, size = agent.store_blob(photo, "image/jpeg")
    for table, column in (("blob_queue", "hub_received"), ("hub_rejections", "clock_ahead")):
        agent.replica.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # as an older agent made it
    agent.close()
    agent = Agent.open(tmp_path / "tablet")
    try:
        assert (agent.status()["pending_blobs"], agent.status()["pending_blob_bytes"]) == (1, size)
        assert agent.sync().blobs_uploaded == 1
        assert agent.status()["pending_blob_bytes"] == 0
    finally:
        agent.close()
