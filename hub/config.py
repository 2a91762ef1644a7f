"""Hub configuration: from the factory's argument, else the environment (``FIELDSYNC_*``), else defaults."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from schema.contracts import CURRENCY_CODE
from sync.hlc import DEFAULT_MAX_AHEAD_MS

from .db import as_location, is_url


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class HubConfig:
    # A SQLite file (the embedded default) or a PostgreSQL URL (``postgresql://...``; the schema is
    # the first of its search_path, e.g. ``?options=-csearch_path%3Dfieldsync``).
    database: Path | str = Path("var/hub.db")
    blob_dir: Path | None = None  # default: <database folder>/blobs, or var/blobs beside a URL
    node: str = "hub"
    max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS
    # A device whose clock is off by more than this is flagged (its ops still sync: the agent
    # stamps them with the offset the hub measured).
    skew_flag_ms: int = 2 * 60 * 1000
    enrolment_ttl_s: int = 24 * 3600
    max_blob_bytes: int = 200 * 1024 * 1024
    max_chunk_bytes: int = 4 * 1024 * 1024
    max_request_bytes: int = 32 * 1024 * 1024
    # Where work-order part estimates are reserved when no van is dispatched yet (a warehouse id).
    default_warehouse: str | None = None
    # The currency of the parts price list (every item's unit_price and unit_cost): contracts that
    # bill parts from it must be in it, or an invoice would mix currencies (hub/billing/README.md).
    price_list_currency: str = "GBP"
    # Seconds between engine rounds in the background (0: engines run only when asked, as in tests).
    engines_interval_s: float = 0
    zeroconf: bool = False
    zeroconf_interfaces: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    clock: Callable[[], int] = wall_clock_ms

    def __post_init__(self) -> None:
        self.database = as_location(self.database)
        if not isinstance(self.price_list_currency, str) or not re.match(CURRENCY_CODE, self.price_list_currency):
            # A contract's currency is compared with it as written: "gbp" would refuse every contract.
            raise ConfigError("price_list_currency", "must be an ISO 4217 code of three capital letters such as "
                                                     f"GBP, got {self.price_list_currency!r}")

    @property
    def postgres(self) -> bool:
        """Whether the hub runs on PostgreSQL (else on its SQLite file)."""
        return is_url(self.database)

    @property
    def blobs(self) -> Path:
        if self.blob_dir is not None:
            return self.blob_dir
        return Path("var/blobs") if isinstance(self.database, str) else self.database.parent / "blobs"

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> HubConfig:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            env_name = f"FIELDSYNC_{spec.name.upper()}"
            if env_name in environ and spec.name != "clock":
                values[spec.name] = _parse(spec.name, environ[env_name])
        values.update(overrides or {})
        if values.get("blob_dir") is not None:
            values["blob_dir"] = Path(values["blob_dir"])
        return cls(**values)


class ConfigError(ValueError):
    """A setting the hub cannot run with, named with the environment variable that sets it."""

    def __init__(self, name: str, reason: str) -> None:
        self.variable = f"FIELDSYNC_{name.upper()}"
        self.reason = reason
        super().__init__(f"{name} ({self.variable}) {reason}")


def _parse(name: str, text: str) -> Any:
    try:
        if name == "engines_interval_s":
            return float(text)
        if name in ("max_ahead_ms", "skew_flag_ms", "enrolment_ttl_s", "max_blob_bytes", "max_chunk_bytes",
                    "max_request_bytes"):
            return int(text)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {text!r}") from None
    if name == "zeroconf":
        return text.lower() in ("1", "true", "yes", "on")
    if name == "zeroconf_interfaces":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text
