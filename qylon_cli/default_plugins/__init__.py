"""Qylon's own command groups, registered through the same hooks as any plugin."""
