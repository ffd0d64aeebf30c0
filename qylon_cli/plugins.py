"""The plugin host: pluggy hook specifications, entry-point group ``qylon``.

Parts (agent, server) and integrations register through the same hooks. Set
``QYLON_LOAD_PLUGINS`` to a comma-separated list of entry-point names to load
only those (an empty value loads none), as llm does with ``LLM_LOAD_PLUGINS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata

import pluggy

hookspec = pluggy.HookspecMarker("qylon")
hookimpl = pluggy.HookimplMarker("qylon")

ENTRY_POINT_GROUP = "qylon"


class Hookspecs:
    @hookspec
    def register_commands(self, register: Callable) -> None:
        """Add command groups: ``register(typer_app, name="meeting", help="...")``."""


_pm: pluggy.PluginManager | None = None


def manager() -> pluggy.PluginManager:
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("qylon")
        pm.add_hookspecs(Hookspecs)
        _load(pm)
        _pm = pm
    return _pm


def _load(pm: pluggy.PluginManager) -> None:
    wanted = os.environ.get("QYLON_LOAD_PLUGINS")
    if wanted is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in names and not pm.has_plugin(ep.name):
            pm.register(ep.load(), name=ep.name)


def describe() -> list[dict]:
    """What is loaded: name, distribution, version and the hooks each implements."""
    pm = manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        rows.append(
            {
                "name": name,
                "package": dist.project_name if dist else None,
                "version": dist.version if dist else None,
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            }
        )
    return rows
