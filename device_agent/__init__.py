"""The technician's agent: a library (``Agent``) with a thin CLI (``fieldsync-agent``)."""

from .agent import Agent, AgentConfig, SyncSummary

__all__ = ["Agent", "AgentConfig", "SyncSummary"]
