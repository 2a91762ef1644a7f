"""What a sync reports as it goes: each phase ends at its total (a pull's total is an estimate
until its last page), and photos count in bytes, chunk by chunk, so a large one shows movement."""

from __future__ import annotations

from device_agent import Agent, visit
from device_agent.agent import BLOB_CHUNK


def test_progress_ends_at_each_phase_total_and_photos_count_in_bytes(hub, code, tmp_path):
    photo = tmp_path / "IMG_0142.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"p" * (2 * BLOB_CHUNK + 10))
    seen: dict[str, list[tuple[int, int]]] = {}
    with Agent.enrol(tmp_path / "tablet", hub.url, code()) as agent:
        agent.sync()
        visit.photo(agent, "job-1", photo)
        agent.sync(lambda phase, done, total: seen.setdefault(phase, []).append((done, total)))
    size = photo.stat().st_size
    assert seen["blobs"][-1] == (size, size)
    assert [done for done, _ in seen["blobs"]] == sorted(done for done, _ in seen["blobs"])
    assert len({done for done, _ in seen["blobs"]}) >= 3  # chunk by chunk, not only at the end
    done, total = seen["pull"][-1]
    assert done == total > 0
