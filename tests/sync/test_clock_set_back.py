"""A node whose clock is set back still records: the bound on timestamps ahead guards against
other nodes' clocks, never against the node's own HLC (found by the fault simulation, #5)."""

import pytest

from sync import hlc
from sync.errors import ClockSkewError
from sync.memory import MemoryReplica
from sync.ops import MOVE, SET, Op
from sync.store import SqliteReplica
from tests.sync.model import REGISTRY

T0 = 1_795_676_400_000
HOUR_MS = 3600 * 1000


@pytest.fixture(params=["memory", "sqlite"])
def tablet(request, tmp_path):
    if request.param == "memory":
        yield MemoryReplica("tablet", REGISTRY)
    else:
        replica = SqliteReplica.open(tmp_path / "tablet.db", "tablet", REGISTRY)
        yield replica
        replica.close()


def test_a_tablet_whose_clock_went_back_an_hour_after_a_sync_still_records(tablet):
    # The tablet synced at T0 (it holds the hub's op of that time); then its clock is set back.
    tablet.ingest([Op("hub", 1, hlc.pack(T0), "job", "job-1", SET, "title", "AC not cooling")], T0)
    earlier = T0 - HOUR_MS

    op = tablet.write(earlier, "job", "job-1", MOVE, "status", "en_route")

    assert op.hlc > hlc.pack(T0)  # after what it has seen: the HLC carries causality
    assert tablet.entity("job", "job-1")["status"] == "en_route"
    assert tablet.write(earlier + 1, "job", "job-1", SET, "notes", "on my way").hlc > op.hlc


def test_ops_from_another_node_still_have_to_be_within_the_bound(tablet):
    ahead = Op("hub", 1, hlc.pack(T0 + HOUR_MS), "job", "job-1", SET, "title", "from the future")
    result = tablet.ingest([ahead], T0)
    assert [r.field for _, r in result.rejected] == ["hlc"]
    with pytest.raises(ClockSkewError):
        hlc.check_ahead(ahead.hlc, T0)
