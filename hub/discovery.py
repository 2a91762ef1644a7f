"""Announce the hub on the local network by zeroconf (``_fieldsync._tcp``), so devices at the
depot or office find it without typing a URL. The interfaces are configuration: loopback in tests
and the demo, never "all interfaces" by default."""

from __future__ import annotations

import socket

from zeroconf import ServiceInfo, Zeroconf

from sync.protocol import PROTOCOL_VERSION, SERVICE_TYPE


class Advertiser:
    def __init__(self, port: int, node: str, interfaces: list[str], *, instance: str | None = None) -> None:
        if not interfaces:
            raise ValueError("name the interfaces to announce on (e.g. ['127.0.0.1']); there is no default")
        self.interfaces = interfaces
        name = instance or f"fieldsync-{node}-{port}"
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address) for address in interfaces],
            port=port,
            properties={"node": node, "path": "/api/v1", "protocol": str(PROTOCOL_VERSION)},
            server=f"{name}.local.",
        )
        self.zeroconf: Zeroconf | None = None

    def start(self) -> Advertiser:
        self.zeroconf = Zeroconf(interfaces=self.interfaces)
        self.zeroconf.register_service(self.info)
        return self

    def close(self) -> None:
        if self.zeroconf is not None:
            self.zeroconf.unregister_service(self.info)
            self.zeroconf.close()
            self.zeroconf = None
