"""Qylon: the host package (CLI, settings, errors, plugin host, shared schemas)."""

__version__ = "0.1.0"
