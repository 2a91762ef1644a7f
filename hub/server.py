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
        if self.thread:
            # Closed in the server's own thread: closed from this one, its sockets could go from
            # under the select() it is blocked in, and the thread would die of a bad descriptor.
            # With every socket closed its loop has nothing left to wait on, and returns.
            self.server.trigger.pull_trigger(self._close_sockets)  # type: ignore[attr-defined]
            self.thread.join(timeout=10)
            self.server.task_dispatcher.shutdown()  # type: ignore[attr-defined]
        else:
            self.server.close()  # type: ignore[attr-defined]
        store_of(self.app).close()

    def _close_sockets(self) -> None:
        for dispatcher in list(self.server._map.values()):  # type: ignore[attr-defined]
            dispatcher.close()


def start(app: Flask, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8, zeroconf: bool = False,
          interfaces: list[str] | None = None, background: bool = True) -> RunningHub:
    """Listen on ``host:port`` (0 picks a free port). With ``background`` the server runs in a
    daemon thread and this returns at once; otherwise it serves until interrupted."""
    server = create_server(app, host=host, port=port, threads=threads, ident="fieldsync-hub")
    store_of(app).checkpoint_in_background()
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
