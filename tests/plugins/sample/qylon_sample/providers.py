"""A CRM provider kept in memory."""

from __future__ import annotations

from qylon_cli.providers import Contact, Note


class SampleCrm:
    def __init__(self) -> None:
        self.notes: list[Note] = []

    def find_contacts(self, query: str) -> list[Contact]:
        people = [Contact(id="c1", name="Ada Lovelace", email="ada@example.com", company="Acme")]
        return [c for c in people if query.lower() in c.name.lower()]

    def create_note(self, note: Note) -> Note:
        stored = note.model_copy(update={"id": f"n{len(self.notes) + 1}"})
        self.notes.append(stored)
        return stored
