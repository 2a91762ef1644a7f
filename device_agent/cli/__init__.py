"""``fieldsync-agent``: the technician's commands. Thin: parse, call the library, print.

Every command works with no hub reachable (except enrol and sync, which say so plainly), says
what it recorded, and prints JSON with ``--json``. Command groups live one module each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from sync.errors import InvalidOp, SyncError

from ..agent import Agent

DEFAULT_HOME = Path(os.environ.get("FIELDSYNC_AGENT_HOME", Path.home() / ".fieldsync-agent"))


class AgentGroup(click.Group):
    """Turns the library's errors into messages that say what to do, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidOp as exc:
            raise click.ClickException(f"not recorded — {exc.field}: {exc.reason}") from None
        except SyncError as exc:
            raise click.ClickException(exc.message + (f"\nnext: {exc.hint}" if exc.hint else "")) from None
        finally:
            agent = ctx.obj.get("agent") if isinstance(ctx.obj, dict) else None
            if agent is not None:
                agent.close()


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

__all__ = ["main", "agent_of", "emit"]
