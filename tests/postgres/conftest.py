"""Fixtures: a fresh PostgreSQL schema per test (dropped afterwards)."""

from __future__ import annotations

import pytest

from .schemas import Schemas


@pytest.fixture
def schemas():
    made = Schemas()
    yield made
    made.drop()


@pytest.fixture
def pg_url(schemas):
    """The URL of a fresh, empty schema."""
    return schemas.new()
