"""Serving the hub over HTTP (waitress) with its zeroconf announcement, in the foreground or, for
tests and the demo, in a background thread that stops on request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from waitress import create_server

from .app import store_of
from .discovery import Advertiser


@dataclass
class RunningHub:
    app: Flask
    server: object
    thread: threading.Thread | None
    advertiser: Advertiser | None
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.advertiser:
            self.advertiser.close()
        self.server.close()  # type: ignore[attr-defined]
        if self.thread:
            self.thread.join(timeout=10)
        store_of(self.app).close()


def start(app: Flask, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8, zeroconf: bool = False,
          interfaces: list[str] | None = None, background: bool = True) -> RunningHub:
    """Listen on ``host:port`` (0 picks a free port). With ``background`` the server runs in a
    daemon thread and this returns at once; otherwise it serves until interrupted."""
    server = create_server(app, host=host, port=port, threads=threads, ident="fieldsync-hub")
    actual_port = int(server.effective_port)  # type: ignore[attr-defined]
    advertiser = None
    if zeroconf:
        advertiser = Advertiser(actual_port, store_of(app).replica.node, interfaces or [host]).start()
    running = RunningHub(app, server, None, advertiser, host, actual_port)
    if background:
        running.thread = threading.Thread(target=server.run, name="fieldsync-hub", daemon=True)
        running.thread.start()
    else:
        try:
            server.run()
        finally:
            if advertiser:
                advertiser.close()
    return running
