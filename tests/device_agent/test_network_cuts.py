"""A network cut in the middle of a push and of a photo upload: the next sync resumes, and the
hub ends with every op and every byte exactly once."""

from device_agent import Agent
from device_agent.transport import HttpTransport, HubUnreachable
from hub.app import store_of
from sync.ops import APPEND

from ..support.netcut import CuttingProxy


def no_wait(_seconds):
    pass


def record_time_logs(agent, count):
    for i in range(count):
        agent.write([("time_log", f"tl-{i}", APPEND, "", {
            "job_id": "job-1", "technician_id": "tech-1", "started_at": "2026-11-27T09:00:00+00:00",
            "ended_at": "2026-11-27T09:30:00+00:00", "description": f"log {i}"})])


def test_a_push_cut_mid_request_resumes_without_loss_or_duplicates(hub, code, tmp_path):
    proxy = CuttingProxy(hub.port)
    agent = Agent.enrol(tmp_path / "tablet", proxy.url, code(), transport=HttpTransport(proxy.url),
                        sleep=no_wait, attempts=1)
    try:
        agent.sync()
        record_time_logs(agent, 1200)  # three push batches
        proxy.cut_after(40_000)  # dies inside the first push body
        try:
            agent.sync()
        except HubUnreachable:
            pass
        assert proxy.cuts == 1
        agent.sync()
        hub_store = store_of(hub.app)
        logs = [eid for eid in hub_store.replica.entity_ids("time_log")]
        assert len(logs) == 1200
        assert hub_store.replica.vector()[agent.config.node] == 1200
        assert hub_store.replica.quarantined() == []
        assert agent.status()["pending_ops"] == 0
    finally:
        agent.close()
        proxy.close()


def test_a_reply_lost_after_the_hub_committed_is_harmless(hub, code, tmp_path):
    agent = Agent.enrol(tmp_path / "tablet", hub.url, code(), sleep=no_wait)
    try:
        agent.sync()
        record_time_logs(agent, 10)
        real = agent.transport.call
        lost = {"push": 1}

        def reply_lost(method, path, **kwargs):
            reply = real(method, path, **kwargs)
            if path.endswith("/push") and lost["push"]:
                lost["push"] -= 1
                raise HubUnreachable("connection reset after the request was sent")
            return reply

        agent.transport.call = reply_lost
        summary = agent.sync()  # retried with backoff inside the same sync
        assert summary.retries == 1
        assert len(store_of(hub.app).replica.entity_ids("time_log")) == 10
        assert agent.status()["pending_ops"] == 0
    finally:
        agent.close()


def test_a_photo_upload_cut_mid_chunk_resumes_from_what_the_hub_has(hub, code, tmp_path):
    photo = tmp_path / "after.jpg"
    photo.write_bytes(bytes(range(251)) * 4000)  # ~1 MB, four chunks
    proxy = CuttingProxy(hub.port)
    agent = Agent.enrol(tmp_path / "tablet", proxy.url, code(), transport=HttpTransport(proxy.url),
                        sleep=no_wait, attempts=1)
    try:
        agent.sync()
        digest, size = agent.store_blob(photo, "image/jpeg")
        agent.sync()  # nothing to cut yet: make sure the cut lands in a blob chunk below
        agent.replica.conn.execute("UPDATE blob_queue SET uploaded_at = NULL")
        store = store_of(hub.app)
        store.conn.execute("DELETE FROM blobs")
        proxy.cut_after(400_000)  # inside the second 256 kB chunk's connection (hello/push/GET use others)
        hub_blob = None
        waiting_after_cut = None
        for _attempt in range(6):
            try:
                agent.sync()
                break
            except HubUnreachable:
                hub_blob = store.conn.execute("SELECT received, status FROM blobs WHERE sha256 = ?",
                                              (digest,)).fetchone()
                if waiting_after_cut is None:
                    waiting_after_cut = agent.status()["pending_blob_bytes"]
        # Offline, the tablet counts what the hub had acknowledged: the first chunk is not waiting.
        assert waiting_after_cut == size - 256 * 1024
        row = store.conn.execute("SELECT size, received, status FROM blobs WHERE sha256 = ?", (digest,)).fetchone()
        assert row == (size, size, "verified")
        assert agent.status()["pending_blobs"] == 0
        assert hub_blob is None or hub_blob[0] < size  # the cut left a partial upload behind
    finally:
        agent.close()
        proxy.close()
