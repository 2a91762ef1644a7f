"""Fixtures: a live hub on loopback with a seeded job, and enrolment codes for it."""

from __future__ import annotations

import pytest

from hub import auth
from hub.app import create_app, store_of
from hub.server import start

from ..hub.conftest import seed_job


@pytest.fixture
def hub(tmp_path):
    """A live hub (HTTP on 127.0.0.1, free port) holding a job for tech-1 who drives van-7."""
    application = create_app({"database": tmp_path / "hub" / "hub.db"})
    seed_job(store_of(application))
    running = start(application, "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def code(hub):
    def make(kind="technician", subject="tech-1"):
        return auth.create_enrolment_code(store_of(hub.app), kind, subject, f"{kind} {subject}")

    return make
