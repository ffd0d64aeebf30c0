"""Sync, the last stage: the outbox that pushes meetings to the team server, and the
folder sync that keeps a Markdown copy of each meeting (such as in an Obsidian vault)."""
