"""``fieldsync-agent``: the technician's commands. Thin: parse, call the library, print.

Every command works with no hub reachable (except enrol and sync, which say so plainly), says
what it recorded, and prints JSON with ``--json``. Command groups live one module each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from sync.errors import InvalidOp, SyncError

from ..agent import Agent

DEFAULT_HOME = Path(os.environ.get("FIELDSYNC_AGENT_HOME", Path.home() / ".fieldsync-agent"))


class Refused(click.ClickException):
    """A command that did not do what was asked: what was wrong and what to do next — with
    ``--json``, the one error shape ``{"ok": false, "error", "errors": [{"field", "reason"}],
    "hint", "status"}`` on stdout, so a script reads every failure the same way."""

    def __init__(self, message: str, hint: str | None = None, errors: Iterable[tuple[str, str]] = (),
                 as_json: bool = False) -> None:
        super().__init__(message + (f"\nnext: {hint}" if hint else ""))
        self.error, self.hint, self.errors, self.as_json = message, hint, list(errors), as_json

    @classmethod
    def of(cls, error: SyncError, as_json: bool) -> Refused:
        errors = getattr(error, "errors", None) or ([(error.field, error.reason)] if hasattr(error, "field") else [])
        return cls(error.message, error.hint, errors, as_json)

    def show(self, file: Any = None) -> None:
        if not self.as_json:
            super().show(file)
            return
        click.echo(json.dumps({"ok": False, "error": self.error, "hint": self.hint, "status": self.exit_code,
                               "errors": [{"field": f, "reason": r} for f, r in self.errors]}))


class AgentGroup(click.Group):
    """Turns the library's errors into messages that say what to do, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidOp as exc:
            raise Refused(f"not recorded — {exc.field}: {exc.reason}", None, [(exc.field, exc.reason)],
                          _as_json(ctx)) from None
        except SyncError as exc:
            raise Refused.of(exc, _as_json(ctx)) from None
        except click.ClickException as exc:
            if type(exc) is click.ClickException and _as_json(ctx):
                message, _, hint = exc.format_message().partition("\nnext: ")
                raise Refused(message, hint or None, (), True) from None
            raise
        finally:
            agent = ctx.obj.get("agent") if isinstance(ctx.obj, dict) else None
            if agent is not None:
                agent.close()


def _as_json(ctx: click.Context) -> bool:
    return bool(ctx.obj.get("json")) if isinstance(ctx.obj, dict) else False


@click.group(cls=AgentGroup)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_HOME, show_default=True,
              envvar="FIELDSYNC_AGENT_HOME", help="the agent's folder (replica, photos, credentials)")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def main(ctx: click.Context, home: Path, as_json: bool) -> None:
    """FieldSync agent: work jobs offline on a tablet or van terminal; sync when a network appears."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["json"] = as_json


def agent_of(ctx: click.Context) -> Agent:
    """The agent of the --home folder, opened once per command."""
    root = ctx.find_root()
    if root.obj.get("agent") is None:
        root.obj["agent"] = Agent.open(root.obj["home"])
    return root.obj["agent"]


def emit(ctx: click.Context, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if ctx.find_root().obj["json"] else text)


from . import core, van, visit  # noqa: E402,F401  (registers the commands on main)

__all__ = ["main", "agent_of", "emit", "Refused"]
