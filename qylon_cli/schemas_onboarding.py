"""Wire schemas of onboarding's experiments (A/B tests) and re-engagement (issue 20),
shared by the server's routes and the CLI; the rest of the wire format is in
``schemas.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_serializer,
)

from .schemas import Page

# ---------------------------------------------------------------------------- experiments


def _distinct_variants(variants: list[ExperimentVariant]) -> list[ExperimentVariant]:
    names = [v.name for v in variants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"variant names must differ: {', '.join(twice)} given twice")
    return variants


class ExperimentVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="e.g. control, b.")
    weight: float = Field(gt=0, le=1_000_000, description="Its share: weights are normalised.")
    sequence: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9-]{0,47}$",
        description="On a sequence: the sequence its people run instead (none: the target).",
    )
    template: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9-]{0,63}$",
        description="On a template: the template its people get instead (one of `templates`).",
    )

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None or k in ("name", "weight")}


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    target_kind: Literal["sequence", "template"] = Field(description="What it varies.")
    target: str = Field(min_length=1, max_length=200, description="The sequence or template.")
    variants: Annotated[
        list[ExperimentVariant],
        Field(min_length=2, max_length=20, description="The first is the control."),
        AfterValidator(_distinct_variants),
    ]
    min_sample: int = Field(100, ge=1, le=10_000_000, description="Exposures per variant.")
    goal: str | None = Field(
        None,
        pattern=r"^[a-z_]+\.[a-z_]+$",
        description="The event type that converts an exposed person, e.g. "
        "compliance.item_completed (none: conversions come through the API only).",
    )
    goal_where: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], str | int | bool] | None,
        Field(
            max_length=10,
            description="Only goal events whose data holds these values convert, e.g. "
            '{"item_key": "security-training"} (docs/events.md lists each type\'s data).',
        ),
    ] = None
    templates: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="NAME -> the text of each template a variant names (config/email/NAME.md.j2).",
    )


class ExperimentInfo(BaseModel):
    id: str
    name: str
    target_kind: str
    target: str
    variants: list[ExperimentVariant]
    status: Literal["draft", "running", "stopped"]
    min_sample: int
    goal: str | None = None
    goal_where: dict[str, str | int | bool] | None = None
    templates: list[str] = Field(default_factory=list, description="The variants' templates.")
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @field_validator("templates", mode="before")
    @classmethod
    def _names(cls, value):
        return sorted(value or ()) if isinstance(value, dict | None) else value


class ExperimentPage(Page[ExperimentInfo]):
    pass


class ExperimentPerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=36)


class ExperimentAssignment(BaseModel):
    experiment: str
    user_id: str
    variant: str
    exposed: bool = Field(description="The person's exposure is recorded (now or before).")
    new: bool = Field(description="This call recorded it.")


class ExperimentConversion(BaseModel):
    experiment: str
    user_id: str
    variant: str | None = Field(description="Their variant; None: never exposed.")
    converted: bool = Field(description="Their conversion is recorded (now or before).")
    new: bool = Field(description="This call recorded it.")


class VariantResult(BaseModel):
    name: str
    weight: float
    exposures: int
    conversions: int
    rate: float | None = Field(description="conversions / exposures.")
    difference: float | None = Field(description="rate - the control's rate.")
    lift: float | None = Field(description="difference / the control's rate.")
    z: float | None
    p_value: float | None = Field(description="Two-proportion z-test against the control.")
    ci: list[float] | None = Field(description="Confidence interval of the difference.")
    below_min_sample: bool


class ExperimentResults(BaseModel):
    experiment: ExperimentInfo
    control: str
    confidence: float
    variants: list[VariantResult]
    warnings: list[str]


# ---------------------------------------------------------------------------- re-engagement


class EngagementRuleUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=256 * 1024, description="The rule's YAML.")


class EngagementRuleInfo(BaseModel):
    id: str
    name: str
    version: int
    sha256: str
    enabled: bool
    risk: int
    description: str | None = None
    workflow: str | None = Field(None, description="The nudge's workflow, if any.")
    created_at: datetime
    created: bool | None = Field(None, description="On upload: False when already stored.")


class EngagementRulePage(Page[EngagementRuleInfo]):
    pass


class RiskReason(BaseModel):
    rule: str
    risk: int
    facts: list[str]


class AtRiskPerson(BaseModel):
    user_id: str
    email: str
    risk: int = Field(description="The sum of the matching rules' risk.")
    score: float = Field(description="Recency-weighted activity (docs/onboarding-risk.md).")
    activity: dict[str, int]
    last_activity: datetime | None = None
    reasons: list[RiskReason]


class AtRiskPage(Page[AtRiskPerson]):
    at: datetime


class EngagementEvaluate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime | None = Field(None, description="Evaluate as of this time (default: now).")
    cap_per_week: int = Field(2, ge=1, le=50, description="Nudges per person in 7 days, in all.")


class NudgeOutcome(BaseModel):
    user_id: str
    email: str
    rule: str
    run_id: str | None = None
    why: str | None = Field(None, description="Why it was held back.")


class EngagementEvaluation(BaseModel):
    at: datetime
    started: list[NudgeOutcome]
    held: list[NudgeOutcome]
