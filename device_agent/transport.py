"""How the agent reaches the hub: a small protocol with an HTTP implementation (requests) and an
in-process one (the hub's Flask app called directly), so a test or the fault simulator can run a
hub and many devices in one process through the same agent code.

Errors: :class:`HubUnreachable` (retryable: no answer, timeout, 5xx) and :class:`HubRefused`
(not retryable: the hub answered 4xx; its error body says why and what to do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import requests

from sync.errors import SyncError, TransportError


class HubUnreachable(TransportError):
    """No usable answer from the hub (network down, timeout, hub error); try again later."""


class HubRefused(SyncError):
    """The hub refused the request; retrying the same thing will not help."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        errors = "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in body.get("errors", []))
        message = f"hub refused ({status}): {body.get('error', 'no reason given')}" + (f" [{errors}]" if errors else "")
        super().__init__(message, hint=body.get("hint", ""))


class HubTransport(Protocol):
    def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             params: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """Send one request; return the JSON reply or raise HubUnreachable / HubRefused."""


class HttpTransport:
    """requests over HTTP, with a timeout on every call."""

    # A call waits on the network, not on this process: the agent may commit one pull page
    # while the request for the next is out (see Agent._pull).
    overlaps = True

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             params: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(method, self.base_url + path, data=data, params=params,
                                            headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise HubUnreachable(f"cannot reach the hub at {self.base_url}: {exc.__class__.__name__}",
                                 hint="check the network; the agent keeps everything and retries") from None
        return _reply(response.status_code, _json_or_empty(response))

    def close(self) -> None:
        self.session.close()


class InProcessTransport:
    """Calls a hub Flask app in this process (its test client): real hub code, no sockets."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def call(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             params: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.open(path, method=method, json=json, data=data, query_string=params, headers=headers)
        return _reply(response.status_code, response.get_json(silent=True) or {})

    def close(self) -> None:
        pass


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    # orjson: a bootstrap reply carries thousands of ops; the standard parser is several times slower.
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    if status >= 500 or status == 429:
        raise HubUnreachable(f"the hub answered {status}: {body.get('error', 'server error')}",
                             hint="the hub is busy or failing; the agent retries later")
    if status >= 400:
        raise HubRefused(status, body)
    return body


def with_retries(call: Callable[[], Any], *, attempts: int = 5, first_delay_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[int, Exception], None] | None = None) -> Any:
    """Run ``call``; on a retryable error wait (0.5 s, 1 s, 2 s, ...) and try again, up to
    ``attempts`` times in all. Refusals are raised at once."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except SyncError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            if on_retry:
                on_retry(attempt, exc)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
