"""Fixtures for hub tests: a hub on a real SQLite file, its Flask test client, tokens, and a
live hub serving HTTP on loopback."""

from __future__ import annotations

import pytest

from hub import auth
from hub.app import create_app, store_of
from hub.server import start
from sync.ops import INCR, SET

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
