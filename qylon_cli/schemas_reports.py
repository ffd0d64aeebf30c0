"""The reports' wire format (``/v1/reports/*``, ``qylon report ... --json``): what each
figure is, in the server's OpenAPI document. docs/reports.md defines how each is counted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .schemas_onboarding import VariantResult


class ReportBase(BaseModel):
    source: Literal["local", "server"] = Field(
        description="This device's store (local) or the team server's database."
    )
    filters: dict[str, str | None] = Field(description="The filters the figures are for.")
    today: str = Field(description="The date (UTC) 'overdue' was judged on.")


class ClientFigures(BaseModel):
    client: str
    meetings: int
    hours: float


class SpeakerFigures(BaseModel):
    speaker: str = Field(
        description="A name (case-insensitive), or 'Unnamed' for all unnamed speakers."
    )
    talk_time_s: float
    share: float = Field(description="Of everyone's talk time in these meetings, 0-1.")


class ActionItemFigures(BaseModel):
    opened: int = Field(description="Items raised in these meetings.")
    closed: int = Field(description="Of them, those done.")
    open: int
    overdue: int = Field(description="Open, due before today.")
    median_days_to_close: float | None = Field(
        description="From the meeting's date to the item's being marked done, in days."
    )


class MeetingReport(ReportBase):
    report: Literal["meetings"] = "meetings"
    meetings: int
    hours: float
    clients: list[ClientFigures]
    speakers: list[SpeakerFigures]
    action_items: ActionItemFigures


class CohortFigures(BaseModel):
    cohort: str = Field(description="2026-11 (month) or 2026-W47 (ISO week) of the start.")
    started: int
    emailed: int = Field(description="Sent their first email.")
    compliance_done: int = Field(description="Completed every compliance item not withdrawn.")
    completed: int
    stopped: int
    running: int


class OverdueItem(BaseModel):
    policy: str
    item: str
    title: str
    overdue: int = Field(description="People overdue on it.")


class OverduePerson(BaseModel):
    email: str | None
    policy: str
    item: str
    title: str
    due_date: str
    overdue_days: int


class OverdueFigures(BaseModel):
    items: int
    people: int
    by_item: list[OverdueItem]
    list: list[OverduePerson]


class OnboardingReport(ReportBase):
    report: Literal["onboarding"] = "onboarding"
    cohorts: list[CohortFigures]
    overdue: OverdueFigures


class ExperimentFigures(BaseModel):
    name: str
    status: str
    on: str = Field(description="sequence:NAME or template:NAME.")
    goal: str | None
    control: str
    variants: list[VariantResult]
    warnings: list[str]


class ExperimentsReport(ReportBase):
    report: Literal["experiments"] = "experiments"
    experiments: list[ExperimentFigures]
