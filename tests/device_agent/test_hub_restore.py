"""A hub restored from a backup holds less than it acknowledged to a tablet: the tablet sends its
work again, photos included — those it had sent and the hub verified after the backup are gone
with the files of the machine they were on."""

import hashlib

from device_agent import Agent, visit
from device_agent.transport import HttpTransport
from hub import admin
from hub.app import create_app, store_of
from hub.blobs import blob_state, final_path
from hub.config import HubConfig
from hub.server import start


def test_photos_a_restored_hub_lost_are_sent_again_and_nothing_else_twice(hub, code, tmp_path):
    store = store_of(hub.app)
    kept_photo = tmp_path / "before.jpg"
    kept_photo.write_bytes(b"\xff\xd8\xff" + b"before the backup" * 50)
    lost_photo = tmp_path / "after.jpg"
    lost_photo.write_bytes(b"\xff\xd8\xff" + b"after the backup" * 50)
    with Agent.enrol(tmp_path / "tablet", hub.url, code()) as agent:
        agent.sync()
        visit.photo(agent, "job-1", kept_photo, stage="before")
        assert agent.sync().blobs_uploaded == 1
        backup_file = tmp_path / "backups" / "hub.db"
        admin.backup(store.config.database, store.config.blobs, backup_file)
        visit.photo(agent, "job-1", lost_photo, stage="after")
        assert agent.sync().blobs_uploaded == 1

    # The hub's machine is lost: the backup is restored on another one, without the later photo.
    elsewhere = HubConfig(database=tmp_path / "new" / "hub.db")
    admin.restore(backup_file, elsewhere.database, elsewhere.blobs)
    restored = start(create_app(elsewhere), "127.0.0.1", 0)
    try:
        with Agent.open(tmp_path / "tablet", transport=HttpTransport(restored.url)) as agent:
            summary = agent.sync()
            assert summary.blobs_rechecked == 2 and summary.blobs_uploaded == 1  # the other was there
            assert agent.sync().blobs_rechecked == 0
        new_store = store_of(restored.app)
        lost = hashlib.sha256(lost_photo.read_bytes()).hexdigest()
        with new_store.reading():
            assert blob_state(new_store, lost)["status"] == "verified"
            stages = sorted(new_store.replica.entity("attachment", eid)["value"]["stage"]
                            for eid in new_store.replica.entity_ids("attachment"))
        assert final_path(new_store, lost).read_bytes() == lost_photo.read_bytes()
        assert stages == ["after", "before"]
    finally:
        restored.stop()
