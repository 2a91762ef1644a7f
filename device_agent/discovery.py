"""Find a hub on the local network by zeroconf (``_fieldsync._tcp``), on the interfaces given."""

from __future__ import annotations

import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

from sync.protocol import SERVICE_TYPE


class _Collector(ServiceListener):
    def __init__(self) -> None:
        self.found: list[dict[str, str]] = []

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=2000)
        if info is None or not info.parsed_addresses():
            return
        properties = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        address = info.parsed_addresses()[0]
        self.found.append({"name": name, "url": f"http://{address}:{info.port}", "node": properties.get("node", ""),
                           "protocol": properties.get("protocol", "")})

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def discover(interfaces: list[str], timeout_s: float = 5.0, *, first: bool = True) -> list[dict[str, str]]:
    """Hubs announcing themselves on ``interfaces`` within ``timeout_s``: [{name, url, node}].
    With ``first``, returns as soon as one answers."""
    if not interfaces:
        raise ValueError("name the interfaces to search (e.g. ['127.0.0.1']); there is no default")
    zeroconf = Zeroconf(interfaces=interfaces)
    collector = _Collector()
    browser = ServiceBrowser(zeroconf, SERVICE_TYPE, collector)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (first and collector.found):
            time.sleep(0.05)
    finally:
        browser.cancel()
        zeroconf.close()
    return list(collector.found)
