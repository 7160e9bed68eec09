"""What staff read about forms: the list, the submissions, the results per question, the funnel
from opening to sending, the CSV export, and a friend's submissions for their chart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.tenancy import Channel
from growth.forms.models import Form, FormOpen, FormSubmission, Policy
from growth.forms.questions import Kind, as_text
from growth.forms.schemas import (
    ChoiceCount,
    FormAction,
    FormOut,
    FormResults,
    Funnel,
    QuestionResult,
    SubmissionOut,
)
from growth.forms.service import answers_of, questions_of
from idlink.models import Friend

RECENT_SHOWN = 10
# Submissions read at once when results and CSV go through all of a form's.
CHUNK = 500


def form_url(public_url: str, code: str) -> str:
    """The form's page: the hub serves it, LINE opens it as a LIFF page."""
    return f"{public_url}/f/{code}"


def form_out(session: Session, form: Form, *, public_url: str) -> FormOut:
    channel = session.get_one(Channel, form.channel_id)
    return FormOut(
        id=form.id,
        code=form.code,
        name=form.name,
        channel=channel.line_channel_id,
        title=form.title,
        description=form.description,
        questions=questions_of(form),
        policy=Policy(form.policy),
        opens_at=None if form.opens_at is None else as_utc(form.opens_at),
        closes_at=None if form.closes_at is None else as_utc(form.closes_at),
        actions=[FormAction.model_validate(a) for a in form.actions],
        thanks=form.thanks,
        url=form_url(public_url, form.code),
        created_at=form.created_at,
        updated_at=form.updated_at,
    )


def forms_of(session: Session, shop_id: int) -> list[Form]:
    return list(session.scalars(select(Form).where(Form.shop_id == shop_id).order_by(Form.name)))


@dataclass(frozen=True, slots=True)
class FormSummary:
    opened: int = 0
    submitted: int = 0


def summaries(session: Session, shop_id: int) -> dict[int, FormSummary]:
    """Per form of the shop: friends who opened it, friends who sent it."""
    opened: dict[int, int] = {
        form_id: count
        for form_id, count in session.execute(
            select(FormOpen.form_id, func.count(func.distinct(FormOpen.line_user_id)))
            .where(FormOpen.shop_id == shop_id)
            .group_by(FormOpen.form_id)
        )
    }
    sent: dict[int, int] = {
        form_id: count
        for form_id, count in session.execute(
            select(FormSubmission.form_id, func.count(func.distinct(FormSubmission.friend_id)))
            .where(FormSubmission.shop_id == shop_id)
            .group_by(FormSubmission.form_id)
        )
    }
    return {
        form_id: FormSummary(opened.get(form_id, 0), sent.get(form_id, 0))
        for form_id in {*opened, *sent}
    }


def funnel(session: Session, form: Form) -> Funnel:
    opened = session.scalar(
        select(func.count(func.distinct(FormOpen.line_user_id))).where(FormOpen.form_id == form.id)
    )
    submitted, submissions = session.execute(
        select(
            func.count(func.distinct(FormSubmission.friend_id)), func.count(FormSubmission.id)
        ).where(FormSubmission.form_id == form.id)
    ).one()
    return Funnel(opened=opened or 0, submitted=submitted, submissions=submissions)


def _latest_ids(form: Form) -> Select[int]:
    """Each friend's latest submission of the form."""
    return (
        select(func.max(FormSubmission.id))
        .where(FormSubmission.form_id == form.id)
        .group_by(FormSubmission.friend_id)
    )


def _counted(session: Session, form: Form) -> Iterator[FormSubmission]:
    """The submissions the results count, newest first: every one of a form answered many
    times, else each friend's latest."""
    query = select(FormSubmission).where(FormSubmission.form_id == form.id)
    if form.policy != Policy.MANY:
        query = query.where(FormSubmission.id.in_(_latest_ids(form)))
    yield from session.scalars(
        query.order_by(FormSubmission.id.desc()).execution_options(yield_per=CHUNK)
    )


def results(session: Session, form: Form, *, public_url: str) -> FormResults:
    """The funnel and, per question, how often each choice was picked or the latest answers."""
    questions = [q for q in questions_of(form) if q.answered and q.key and not q.hidden]
    answered: Counter[str] = Counter()
    picks: dict[str, Counter[str]] = {q.key or "": Counter() for q in questions}
    recent: dict[str, list[str]] = {q.key or "": [] for q in questions}
    for submission in _counted(session, form):
        answers = answers_of(submission)
        for question in questions:
            key = question.key or ""
            if key not in answers:
                continue
            answered[key] += 1
            answer = answers[key]
            if question.kind in {Kind.SINGLE, Kind.MULTIPLE, Kind.DROPDOWN, Kind.CONSENT}:
                picks[key].update(answer if isinstance(answer, list) else [answer])
            elif len(recent[key]) < RECENT_SHOWN:
                recent[key].append(as_text(answer))
    return FormResults(
        form=form_out(session, form, public_url=public_url),
        funnel=funnel(session, form),
        questions=[
            QuestionResult(
                key=q.key or "",
                label=q.label,
                kind=q.kind,
                answered=answered[q.key or ""],
                choices=_choices(q.kind, [c.label for c in q.choices], picks[q.key or ""]),
                recent=recent[q.key or ""],
            )
            for q in questions
        ],
    )


def _choices(kind: Kind, labels: list[str], picked: Counter[str]) -> list[ChoiceCount]:
    if kind == Kind.CONSENT:
        labels = ["yes"]
    return [ChoiceCount(label=label, count=picked[label]) for label in labels]


def _out(submission: FormSubmission, name: str | None, latest: bool) -> SubmissionOut:
    return SubmissionOut(
        id=submission.id,
        friend_id=submission.friend_id,
        display_name=name,
        answers=answers_of(submission),
        language=submission.language,
        outcome=submission.outcome,
        submitted_at=submission.submitted_at,
        latest=latest,
    )


def submissions(
    session: Session, form: Form, *, before: int | None, limit: int
) -> tuple[list[SubmissionOut], int | None]:
    """A page of the form's submissions, newest first; and the ``before`` of the next page."""
    query = (
        select(FormSubmission, Friend.display_name)
        .join(Friend, Friend.id == FormSubmission.friend_id)
        .where(FormSubmission.form_id == form.id)
    )
    if before is not None:
        query = query.where(FormSubmission.id < before)
    rows = session.execute(query.order_by(FormSubmission.id.desc()).limit(limit + 1)).all()
    friend_ids = {s.friend_id for s, _ in rows}
    latest = set(session.scalars(_latest_ids(form).where(FormSubmission.friend_id.in_(friend_ids))))
    items = [_out(s, name, s.id in latest) for s, name in rows[:limit]]
    return items, (items[-1].id if len(rows) > limit else None)


@dataclass(frozen=True, slots=True)
class FriendAnswers:
    """A submission as the friend's chart shows it: the form's title, its questions' labels."""

    title: str
    labels: dict[str, str]
    submission: SubmissionOut


def of_friend(session: Session, friend_id: int, *, limit: int = 20) -> list[FriendAnswers]:
    """The friend's latest submissions, newest first; ``latest`` marks each form's last."""
    rows = session.execute(
        select(FormSubmission, Form)
        .join(Form, Form.id == FormSubmission.form_id)
        .where(FormSubmission.friend_id == friend_id)
        .order_by(FormSubmission.id.desc())
        .limit(limit)
    ).all()
    seen: set[int] = set()
    found = []
    for submission, form in rows:
        labels = {q.key: q.label for q in questions_of(form) if q.key}
        out = _out(submission, None, submission.form_id not in seen)
        found.append(FriendAnswers(form.title, labels, out))
        seen.add(submission.form_id)
    return found


def csv_columns(form: Form) -> list[str]:
    keys = [q.key for q in questions_of(form) if q.answered and q.key]
    return ["submission_id", "friend_id", "submitted_at", "latest", *keys]


def csv_rows(session: Session, form: Form) -> Iterator[dict[str, object]]:
    """Every submission as a CSV row, newest first; ``latest`` marks each friend's last."""
    latest = set(session.scalars(_latest_ids(form)))
    query = select(FormSubmission).where(FormSubmission.form_id == form.id)
    for submission in session.scalars(
        query.order_by(FormSubmission.id.desc()).execution_options(yield_per=CHUNK)
    ):
        answers = answers_of(submission)
        yield {
            "submission_id": submission.id,
            "friend_id": submission.friend_id,
            "submitted_at": submission.submitted_at.isoformat(),
            "latest": "yes" if submission.id in latest else "",
            **{key: as_text(value) for key, value in answers.items()},
        }
