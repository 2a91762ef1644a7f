"""Fixtures for hub tests: a hub on a real database, its Flask test client, tokens, and a live hub
serving HTTP on loopback.

Every test that builds a hub runs twice: on SQLite (``[sqlite]``) and on PostgreSQL
(``[postgresql]``, the server on 127.0.0.1:5432). Tests give the hub a file path as always; on
PostgreSQL each path a test names becomes a fresh schema of its own (the same path, the same
schema, so reopening works), blobs stay beside the path, and the schemas are dropped when the
test ends. A test that checks the SQLite file itself is listed in ``SQLITE_ONLY`` with the reason
and runs once; a test about PostgreSQL itself is marked ``postgresql_only``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hub import auth
from hub.app import create_app, store_of
from hub.config import HubConfig
from hub.server import start
from sync.ops import INCR, SET

from ..postgres.schemas import Schemas

BACKENDS = ("sqlite", "postgresql")
# Fixtures that build a hub: a test using one (or naming the hub's factories) runs on both backends.
HUB_FIXTURES = frozenset({"app", "live_hub", "hub", "world"})
HUB_FACTORIES = ("create_app", "HubStore", "HubConfig")
# Tests about the SQLite file itself (its backup API, PRAGMA integrity_check, copying the file):
# a PostgreSQL hub is backed up with pg_dump, and the refusal that says so is tested on its own.
# Keys are test ids without parameters, or whole modules.
SQLITE_ONLY: dict[str, str] = {
    "tests/hub/test_checkpoints.py": "SQLite's WAL checkpoints (PostgreSQL's server runs its own)",
    "tests/hub/engines/test_inventory_order.py": "clones the day's hub for each delivery order by copying its "
                                                 "SQLite file with the backup API",
    "tests/hub/test_admin.py::test_a_backup_taken_while_the_hub_writes_is_whole_and_holds_what_was_committed":
        "SQLite's online backup API",
    "tests/hub/test_admin.py::test_backup_then_restore_brings_the_hub_back_with_its_blobs": "SQLite's backup file",
    "tests/hub/test_admin.py::test_restore_refuses_a_running_hub_and_keeps_the_replaced_file": "SQLite's backup file",
    "tests/hub/test_admin.py::test_a_restore_never_gives_a_device_revoked_after_the_backup_its_access_back":
        "SQLite's backup file",
    "tests/hub/test_admin.py::test_a_mistyped_database_path_is_not_turned_into_an_empty_hub":
        "a path that names no SQLite file",
}


def _builds_a_hub(metafunc: pytest.Metafunc) -> bool:
    if HUB_FIXTURES & set(metafunc.fixturenames):
        return True
    source = inspect.getsource(metafunc.module)
    return any(name in source for name in HUB_FACTORIES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames or not _builds_a_hub(metafunc):
        return
    nodeid = metafunc.definition.nodeid.split("[")[0]
    if nodeid in SQLITE_ONLY or nodeid.split("::")[0] in SQLITE_ONLY:
        metafunc.parametrize("backend", ["sqlite"], indirect=True)
    elif metafunc.definition.get_closest_marker("postgresql_only"):
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    else:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def backend(request, monkeypatch):
    """The hub's database for this test: ``sqlite`` (tests that build no hub run only so) or
    ``postgresql``, where every hub the test configures with a file path gets a fresh schema."""
    name = getattr(request, "param", "sqlite")
    if name == "sqlite":
        yield name
        return
    schemas = Schemas()
    mapped: dict[Path, str] = {}
    original = HubConfig.__post_init__

    def on_postgresql(config: HubConfig) -> None:
        original(config)
        if isinstance(config.database, Path):
            path = config.database.resolve()
            if config.blob_dir is None:
                config.blob_dir = path.parent / "blobs"
            if path not in mapped:
                mapped[path] = schemas.new()
            config.database = mapped[path]

    monkeypatch.setattr(HubConfig, "__post_init__", on_postgresql)
    try:
        yield name
    finally:
        monkeypatch.undo()
        schemas.drop()

# A fixed hub clock for tests that do not travel in time: 2026-11-27 09:00 UTC.
NOW_MS = 1_795_770_000_000


@pytest.fixture
def clock():
    """The hub's clock, settable: ``clock.ms = ...``."""

    class Clock:
        ms = NOW_MS

        def __call__(self) -> int:
            return self.ms

    return Clock()


@pytest.fixture
def app(tmp_path, clock):
    application = create_app({"database": tmp_path / "hub.db", "clock": clock})
    yield application
    store_of(application).close()


@pytest.fixture
def store(app):
    return store_of(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office_token(store):
    """A user holding every office permission."""
    return auth.create_user(store, "office", auth.PERMISSIONS)


@pytest.fixture
def office(office_token):
    return {"Authorization": f"Bearer {office_token}"}


def seed_job(store, *, job="job-1", technician="tech-1", van="van-7"):
    """A customer, site, asset, contract, ticket, work order and a job assigned to a technician
    who works from a van stocked with two capacitors — written as hub ops."""
    store.write([
        ("technician", technician, SET, "name", "Ana Silva"),
        ("technician", technician, SET, "van_id", van),
        ("stock_location", van, SET, "kind", "van"),
        ("stock_location", van, SET, "name", "Van 7"),
        ("customer", "cust-1", SET, "name", "Harbour Hotel"),
        ("site", "site-1", SET, "customer_id", "cust-1"),
        ("site", "site-1", SET, "name", "Rooftop plant room"),
        ("site", "site-1", SET, "address", "1 Quay Street, Bristol"),
        ("asset", "asset-1", SET, "customer_id", "cust-1"),
        ("asset", "asset-1", SET, "site_id", "site-1"),
        ("asset", "asset-1", SET, "product", "Rooftop AC unit"),
        ("asset", "asset-1", SET, "serial", "AC-2231"),
        ("ticket", "tkt-1", SET, "customer_id", "cust-1"),
        ("ticket", "tkt-1", SET, "site_id", "site-1"),
        ("ticket", "tkt-1", SET, "asset_id", "asset-1"),
        ("ticket", "tkt-1", SET, "title", "AC not cooling"),
        ("ticket", "tkt-1", SET, "priority", "High"),
        ("ticket", "tkt-1", SET, "opened_at", "2026-11-27T08:00:00+00:00"),
        ("work_order", "wo-1", SET, "ticket_id", "tkt-1"),
        ("work_order", "wo-1", SET, "scope", "Diagnose and repair the AC unit"),
        ("job", job, SET, "work_order_id", "wo-1"),
        ("job", job, SET, "ticket_id", "tkt-1"),
        ("job", job, SET, "technician_id", technician),
        ("job", job, SET, "van_id", van),
        ("item", "CAP-45", SET, "name", "Capacitor 45uF"),
        ("item", "CAP-45", SET, "unit_cost", "4.10"),
        ("item", "CAP-45", SET, "unit_price", "12.50"),
        ("stock", f"{van}:CAP-45", SET, "location_id", van),
        ("stock", f"{van}:CAP-45", SET, "sku", "CAP-45"),
        ("stock", f"{van}:CAP-45", INCR, "on_hand", 2),
    ])


@pytest.fixture
def seeded(store):
    seed_job(store)
    return store


@pytest.fixture
def device(seeded):
    """An enrolled technician tablet for tech-1: (Device, token)."""
    code = auth.create_enrolment_code(seeded, "technician", "tech-1", "Ana's tablet")
    return auth.enrol(seeded, code, "Ana's tablet", "test")


@pytest.fixture
def live_hub(tmp_path):
    """A hub serving HTTP on 127.0.0.1 (a free port) in a background thread, on the wall clock."""
    application = create_app({"database": tmp_path / "live" / "hub.db"})
    running = start(application, "127.0.0.1", 0)
    yield running
    running.stop()
