"""Running the engines on demand: after a bulk import, or to see at once what they decide."""

from __future__ import annotations

from flask import Blueprint

from . import engines
from .auth import current_store
from .office_http import doc, office_required, ok

bp = Blueprint("engines_api", __name__, url_prefix="/api/v1")


@bp.post("/engines/run")
@office_required("service_management:manage")
@doc(summary="Run every business engine once now", tag="engines")
def run_engines():
    store = current_store()
    return ok({"written": engines.run_all(store), "now": store.now_iso()})
