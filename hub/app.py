"""The hub's Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request

from . import blobs, device_api, engines, engines_api, errors, office_api, sync_api
from .config import HubConfig
from .errors import ApiError
from .store import HubStore

VERSION = "0.1.0"


def create_app(config: HubConfig | Mapping[str, Any] | None = None) -> Flask:
    """Build the hub. ``config`` is a HubConfig, or overrides of the environment's settings."""
    settings = config if isinstance(config, HubConfig) else HubConfig.load(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    store = HubStore(settings)
    app.extensions["fieldsync"] = store
    errors.init_app(app)

    @app.before_request
    def _refuse_oversized_bodies():
        # Refused before any view runs, even one that would not read the body.
        if request.content_length is not None and request.content_length > settings.max_request_bytes:
            raise ApiError(413, "request body too large", [("body", f"at most {settings.max_request_bytes} bytes")])

    app.register_blueprint(device_api.bp)
    app.register_blueprint(sync_api.bp)
    app.register_blueprint(blobs.bp)
    office_api.init_app(app)
    app.register_blueprint(engines_api.bp)
    for blueprint in engines.blueprints():
        app.register_blueprint(blueprint)
    if settings.engines_interval_s > 0:
        store.scheduler = engines.Scheduler(store, settings.engines_interval_s).start()

    @app.get("/api/v1/health")
    def health():
        return jsonify({"ok": True, "node": store.replica.node, "version": VERSION, "now_ms": store.now_ms()})

    return app


def store_of(app: Flask) -> HubStore:
    return app.extensions["fieldsync"]
