"""A SQLite hub that serves copies its WAL into the file on a thread of its own, so no push
slice's commit pays for the copy (hub/db.py WalCheckpointer); stopped, it hands the copy back
to SQLite and leaves no thread behind."""

import threading

from hub.app import create_app, store_of
from hub.server import start
from sync.ops import SET


def checkpoint_threads():
    return [thread for thread in threading.enumerate() if thread.name == "fieldsync-checkpoint"]


def autocheckpoint(store):
    with store.lock:
        return store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]


def test_a_serving_hub_checkpoints_on_its_own_thread_and_stops_it_with_the_hub(tmp_path):
    before = len(checkpoint_threads())
    app = create_app({"database": tmp_path / "hub.db"})
    store = store_of(app)
    assert autocheckpoint(store) == 1000  # not serving: SQLite checkpoints in commits, as always
    running = start(app, "127.0.0.1", 0)
    try:
        assert autocheckpoint(store) == 0
        assert len(checkpoint_threads()) == before + 1
        store.write([("customer", f"cus-{n}", SET, "name", f"Customer {n}") for n in range(500)])
        assert store.replica.entity("customer", "cus-499")["name"] == "Customer 499"
    finally:
        running.stop()
    assert len(checkpoint_threads()) == before
    reopened = create_app({"database": tmp_path / "hub.db"})
    try:
        assert store_of(reopened).replica.entity("customer", "cus-499")["name"] == "Customer 499"
    finally:
        store_of(reopened).close()
