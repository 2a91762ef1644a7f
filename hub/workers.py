"""Serving the hub as several gunicorn worker processes sharing one PostgreSQL database.

Each worker builds its own app (its own connection; nothing is shared across the fork) and may run
the background engines: a round runs in whichever worker takes the engines' advisory lock first,
the others skip it (``HubStore.exclusive``). The master process only binds the socket, creates or
migrates the database once before the workers start, prints where it listens and announces it by
zeroconf. SIGTERM (or Ctrl-C) stops the workers gracefully, then the master.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import HubConfig
from .db import describe
from .discovery import Advertiser
from .errors import ApiError
from .store import HubStore

# A 1,000-op push with its engines can take a few seconds on a slow machine: far below this.
WORKER_TIMEOUT_S = 120


class HubWorkers(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured from a dict instead of its command line; each worker calls
    ``create_app`` with the same overrides."""

    def __init__(self, overrides: dict[str, Any], options: dict[str, Any]) -> None:
        self.overrides = overrides
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app(self.overrides)


def serve(overrides: dict[str, Any], host: str, port: int, workers: int, *, zeroconf: bool,
          interfaces: list[str]) -> None:
    """Run the hub as ``workers`` processes on ``host:port`` until stopped (does not return
    normally: gunicorn exits the process). Raises ApiError when the database is not PostgreSQL."""
    config = HubConfig.load(overrides)
    if not config.postgres:
        raise ApiError(400, "several workers need the hub on PostgreSQL", [("workers", "SQLite has one writer")],
                       hint="give --db postgresql://... (or FIELDSYNC_DATABASE), or serve with --workers 1")
    HubStore(config).close()  # create or migrate the tables once, before any worker opens them
    announced: list[Advertiser] = []

    def when_ready(server: Any) -> None:
        bound = server.LISTENERS[0].getsockname()  # the port, when 0 asked for a free one
        url = f"http://{bound[0]}:{bound[1]}"
        print(f"fieldsync hub {config.node} listening on {url} (database {describe(config.database)}, "
              f"{workers} workers)", flush=True)
        if zeroconf:
            announced.append(Advertiser(bound[1], config.node, interfaces).start())
            print(f"announcing _fieldsync._tcp on {', '.join(interfaces)}", flush=True)

    def worker_exit(server: Any, worker: Any) -> None:
        app = getattr(worker, "wsgi", None)
        if app is not None:
            app.extensions["fieldsync"].close()  # stops its engines, closes its connection

    def on_exit(server: Any) -> None:
        for advertiser in announced:
            advertiser.close()
        print("hub stopped", flush=True)

    options = {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "sync", "timeout": WORKER_TIMEOUT_S,
        "graceful_timeout": 30, "proc_name": "fieldsync-hub", "accesslog": None, "errorlog": "-",
        "loglevel": "warning", "when_ready": when_ready, "worker_exit": worker_exit, "on_exit": on_exit,
    }
    sys.stdout.flush()
    HubWorkers(overrides, options).run()
