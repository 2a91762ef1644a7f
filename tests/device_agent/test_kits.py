"""A parts kit sent from the warehouse reaches the van's terminal, which receives it offline."""

from device_agent import Agent
from device_agent import van as stock
from hub.app import store_of
from sync.ops import SET


def test_the_van_terminal_receives_the_kit_the_warehouse_sent(hub, code, tmp_path):
    store = store_of(hub.app)
    store.write([
        ("stock_location", "wh-1", SET, "kind", "warehouse"), ("stock_location", "wh-1", SET, "name", "Central"),
        ("parts_kit", "kit-1", SET, "from_location_id", "wh-1"), ("parts_kit", "kit-1", SET, "to_location_id", "van-7"),
        ("parts_kit", "kit-1", SET, "lines", [{"sku": "CAP-45", "qty": "3"}]),
        ("parts_kit", "kit-9", SET, "from_location_id", "wh-1"), ("parts_kit", "kit-9", SET, "to_location_id", "van-2"),
        ("parts_kit", "kit-9", SET, "lines", [{"sku": "CAP-45", "qty": "1"}]),
    ])
    terminal = Agent.enrol(tmp_path / "terminal", hub.url, code("van", "van-7"))
    try:
        terminal.sync()
        assert terminal.replica.entity("parts_kit", "kit-1")["lines"] == [{"sku": "CAP-45", "qty": "3"}]
        assert terminal.replica.entity("parts_kit", "kit-9") == {}  # another van's kit never arrives
        stock.receive_kit(terminal, [], "kit-1")
        summary = terminal.sync()
        assert summary.rejected == []
        assert store.replica.entity("parts_kit", "kit-1")["status"] == "received"
        assert store.replica.entity("stock", "van-7:CAP-45")["on_hand"] == 5  # 2 seeded + 3 received
    finally:
        terminal.close()
