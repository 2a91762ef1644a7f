"""Deterministic fault simulation: a hub and several devices in one process, one seeded schedule."""
