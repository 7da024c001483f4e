"""Grids of runs (placeholder registration until the grid command exists)."""

from __future__ import annotations


def add_arguments(commands) -> None:
    """Register the ``grid`` sub-command (none yet)."""
    return None
