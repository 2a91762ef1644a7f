"""The live hub the agent crash tests sync with: the device agent tests' own (job-1 for tech-1,
who drives van-7, on loopback in this process)."""

from ..device_agent.conftest import hub  # noqa: F401
