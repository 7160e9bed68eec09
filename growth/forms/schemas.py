"""Forms as the admin API, the console and ``tsunagu apply`` take them, and what the LIFF page
sends and reads back."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from growth.actions import StepKind
from growth.forms.models import Policy
from growth.forms.questions import Answer, Question
from growth.schemas import IdToken

FormName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
FormCode = Annotated[str, Field(pattern=r"^[0-9a-z]{6,32}$")]
Language = Annotated[str, Field(pattern=r"^(ja|en)$")]


class FormActionKind(enum.StrEnum):
    TAG = StepKind.TAG.value
    UNTAG = StepKind.UNTAG.value
    FIELD = StepKind.FIELD.value
    SEQUENCE = StepKind.SEQUENCE.value
    MESSAGE = StepKind.MESSAGE.value
    MARK = StepKind.MARK.value
    RICH_MENU = StepKind.RICH_MENU.value


class FormAction(BaseModel):
    """What a submission does: ``tag``/``untag`` the tag's name, ``field`` the key and
    ``value``, ``sequence`` its name, ``message`` the text sent on LINE, ``mark`` the inbox
    mark put on the friend's conversation, ``rich_menu`` (nothing): their menu shown now."""

    model_config = ConfigDict(extra="forbid")

    kind: FormActionKind
    target: str = Field("", max_length=5000)
    value: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _complete(self) -> FormAction:
        if self.kind != FormActionKind.RICH_MENU and not self.target.strip():
            raise ValueError(f"a `{self.kind}` action needs its `target`")
        if self.kind == FormActionKind.FIELD and self.value is None:
            raise ValueError("a `field` action needs the `value` to set")
        if self.kind != FormActionKind.MESSAGE and len(self.target) > 100:
            raise ValueError(f"a `{self.kind}` action's target is at most 100 characters")
        return self


class FormIn(BaseModel):
    """A form as declared: its name (staff's), the title and text friends read, its questions,
    who may answer how often and when, what a submission does, and the thank-you."""

    model_config = ConfigDict(extra="forbid")

    name: FormName
    channel: str | None = Field(
        None,
        pattern=r"^[0-9]{1,32}$",
        description="LINE channel id; the shop's only channel when omitted.",
    )
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    questions: list[Question] = Field(min_length=1, max_length=60)
    policy: Policy = Policy.ONCE
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    actions: list[FormAction] = Field(default_factory=list, max_length=20)
    thanks: str | None = Field(
        None, max_length=1000, description="Shown on the page once the answers are saved."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FormIn:
        keys = [q.key for q in self.questions if q.key]
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"two questions share the key {doubled[0]!r}")
        if not keys:
            raise ValueError("a form needs at least one question to answer")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at is not after opens_at")
        return self


class FormOut(FormIn):
    id: int
    code: str
    channel: str
    url: str = Field(description="The form's page: share it, or make it a rich-menu button.")
    created_at: datetime
    updated_at: datetime


class FormList(BaseModel):
    items: list[FormOut]


class OpenIn(BaseModel):
    """The page's call once LINE identified the friend (a LIFF ID token)."""

    model_config = ConfigDict(extra="forbid")

    id_token: IdToken
    language: Language = "ja"


class FormState(enum.StrEnum):
    OPEN = "open"
    NOT_YET = "not_yet"
    CLOSED = "closed"
    ANSWERED = "answered"
    NOT_A_FRIEND = "not_a_friend"


class OpenOut(BaseModel):
    state: FormState
    message: str | None = Field(description="Why the form cannot be answered now, if it cannot.")
    answers: dict[str, Answer] = Field(
        description="The friend's latest answers, to change (forms whose answers are editable)."
    )


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_token: IdToken
    language: Language = "ja"
    answers: dict[Annotated[str, Field(max_length=40)], Any] = Field(max_length=80)


class SubmitOut(BaseModel):
    submission_id: int
    thanks: str


class SubmissionOut(BaseModel):
    id: int
    friend_id: int
    display_name: str | None
    answers: dict[str, Answer]
    language: str
    outcome: list[str]
    submitted_at: datetime
    latest: bool = Field(description="The friend's latest submission of the form.")


class SubmissionList(BaseModel):
    items: list[SubmissionOut]
    next_before: int | None = Field(description="Pass as `before` for the next page; null: done.")


class ChoiceCount(BaseModel):
    label: str
    count: int


class QuestionResult(BaseModel):
    key: str
    label: str
    kind: str
    answered: int
    choices: list[ChoiceCount] = Field(description="Choice questions: how often each was picked.")
    recent: list[str] = Field(description="Other questions: the latest answers (up to 10).")


class Funnel(BaseModel):
    opened: int = Field(description="Friends who opened the form's page.")
    submitted: int = Field(description="Friends who sent it.")
    submissions: int = Field(description="Submissions, changes and repeats included.")


class FormResults(BaseModel):
    form: FormOut
    funnel: Funnel
    questions: list[QuestionResult]
