"""A tablet that records without pause, for crash tests:
``python tests/crash/writer.py HOME JOB COUNT SECONDS`` (it stops by itself after either).

The ``fieldsync-agent`` CLI records one action per process; this is the long-running writer the
CLI cannot be. It uses the agent library exactly as the CLI does (``device_agent.visit``) and
prints one JSON line per action *after* the library returned, i.e. after the action was
committed — so every line printed is an action the device promised to keep. The test kills it
with SIGKILL at any moment and holds the device to those lines.
"""

from __future__ import annotations

import json
import sys
import time

from device_agent import visit
from device_agent.agent import Agent


def actions(job: str):
    """An endless round of the visit's commands: time, a part from the van, a check-in."""
    fix = visit.Fix(51.4545, -2.5879, 8)
    n = 0
    while True:
        n += 1
        yield "log-time", lambda agent, n=n: visit.log_time(agent, job, minutes=1 + n % 90,
                                                            description=f"stream entry {n}")
        yield "use-part", lambda agent: visit.use_part(agent, job, "CAP-45", "1")
        yield "check-in", lambda agent: visit.check_in(agent, job, fix)


def main(argv: list[str]) -> int:
    home, job, count, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    deadline = time.monotonic() + seconds
    with Agent.open(home) as agent:
        for index, (command, act) in zip(range(count), actions(job), strict=False):
            if time.monotonic() > deadline:
                break
            recorded = act(agent)
            line = {"n": index, "command": command, "records": recorded.records, "changes": recorded.changes}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
