"""Forms: declare them; open and answer them from their LIFF page.

The friend is known from the verified LIFF ID token only — the page's URL names the form, never
the person. A submission is checked whole by the questions' rules (``questions.check``), saved
with every earlier one, then its answers set what they map to (custom fields, member
attributes, the tags of the choices picked) and the form's actions run — all in the caller's
transaction, each step in its own savepoint, so one step that cannot run spoils nothing else.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from config import Settings
from core import audit
from core.clock import as_utc
from core.errors import Conflict, NotFound, TooManyAttempts, Unprocessable
from core.tenancy import Channel
from crm import fields
from growth import actions, routes
from growth.forms.models import Form, FormOpen, FormSubmission, Policy
from growth.forms.questions import Answer, Question, as_text, check, language_of
from growth.forms.schemas import FormActionKind, FormIn, FormState, OpenOut, SubmitIn, SubmitOut
from growth.tagrules import events as tag_rule_events
from idlink import liff, tagging
from idlink.errors import NotAFriend
from idlink.models import Friend, FriendStatus
from inbox import library
from messaging.sequences import sequences

# Submissions one friend may send one form within RATE_WINDOW (a form answered by hand takes
# a minute; a script sending faster is refused with 429).
RATE_LIMIT = 5
RATE_WINDOW = timedelta(minutes=10)
CHECK_ANSWERS = {"ja": "入力内容を確認してください。", "en": "Please check your answers."}
DEFAULT_THANKS = {"ja": "ご回答ありがとうございました。", "en": "Thank you for your answers."}
STATE_MESSAGES = {
    FormState.NOT_YET: {"ja": "このフォームはまだ受付前です。", "en": "This form is not open yet."},
    FormState.CLOSED: {"ja": "このフォームの受付は終了しました。", "en": "This form is closed."},
    FormState.NOT_A_FRIEND: {
        "ja": "このフォームに答えるには、お店のLINE公式アカウントを友だち追加してください。",
        "en": "To answer this form, add the shop's LINE account as a friend first.",
    },
    FormState.ANSWERED: {
        "ja": "このフォームには回答済みです。ありがとうございました。",
        "en": "You have already answered this form. Thank you.",
    },
}


class FormNotFound(NotFound):
    """No form has this id in the shop, or this code anywhere."""


class FormExists(Conflict):
    """The shop already has a form by this name."""


class FormNotOpen(Conflict):
    """The form is not open now (before its opening, after its closing) or already answered."""


class UnknownReference(Unprocessable):
    """The form names a custom field, sequence or inbox mark the shop does not have."""


class TooManySubmissions(TooManyAttempts):
    """The friend sent this form too often in a short time."""


class InvalidAnswers(Unprocessable):
    """Answers that break the form's rules; ``fields`` holds each field's message."""

    def __init__(self, detail: str, *, fields: dict[str, str]) -> None:
        super().__init__(detail)
        self.fields = fields


def questions_of(form: Form) -> list[Question]:
    return [Question.model_validate(q) for q in form.questions]


def get_form(session: Session, *, shop_id: int, form_id: int) -> Form:
    form = session.get(Form, form_id)
    if form is None or form.shop_id != shop_id:
        raise FormNotFound(f"no form {form_id} in this shop")
    return form


def find_by_name(session: Session, *, shop_id: int, name: str) -> Form | None:
    return session.scalar(select(Form).where(Form.shop_id == shop_id, Form.name == name))


def form_of_code(session: Session, code: str) -> Form:
    form = session.scalar(select(Form).where(Form.code == code))
    if form is None:
        raise FormNotFound(f"no form {code}")
    return form


def _check_name(session: Session, shop_id: int, name: str, form_id: int | None) -> None:
    other = find_by_name(session, shop_id=shop_id, name=name)
    if other is not None and other.id != form_id:
        raise FormExists(f"the shop already has a form named {name!r}")


def _check_references(session: Session, shop_id: int, channel: Channel, spec: FormIn) -> None:
    """Refuse a form whose answers or actions would set a field, enrol in a sequence or put a
    mark the shop does not have (tags are made when first given)."""
    keys = [q.field for q in spec.questions if q.field]
    keys += [a.target for a in spec.actions if a.kind == FormActionKind.FIELD]
    for key in keys:
        if fields.find(session, shop_id, key) is None:
            raise UnknownReference(f"form {spec.name!r}: no custom field {key!r} in this shop")
    for action in spec.actions:
        if action.kind == FormActionKind.SEQUENCE:
            sequence = sequences.find(session, shop_id=shop_id, name=action.target)
            if sequence is None or sequence.channel_id != channel.id:
                raise UnknownReference(
                    f"form {spec.name!r}: no sequence {action.target!r} on this channel"
                )
        if (
            action.kind == FormActionKind.MARK
            and library.mark_id(session, shop_id, action.target) is None
        ):
            raise UnknownReference(
                f"form {spec.name!r}: no inbox mark {action.target!r} in this shop"
            )


def _apply(form: Form, spec: FormIn, channel: Channel) -> None:
    form.channel_id, form.name, form.title = channel.id, spec.name, spec.title
    form.description = spec.description
    form.questions = [q.model_dump(mode="json", exclude_defaults=True) for q in spec.questions]
    form.actions = [a.model_dump(mode="json", exclude_defaults=True) for a in spec.actions]
    form.policy, form.opens_at, form.closes_at = spec.policy, spec.opens_at, spec.closes_at
    form.thanks = spec.thanks


def create_form(
    session: Session, *, shop_id: int, spec: FormIn, actor: str, ip: str | None = None
) -> Form:
    """A new form with a fresh code for its page; audited."""
    _check_name(session, shop_id, spec.name, None)
    channel = routes.shop_channel(session, shop_id, spec.channel)
    _check_references(session, shop_id, channel, spec)
    form = Form(shop_id=shop_id, code=routes.new_code())
    _apply(form, spec, channel)
    session.add(form)
    session.flush()
    _audit(session, form, actor, "form.created", ip)
    return form


def update_form(
    session: Session, *, form: Form, spec: FormIn, actor: str, ip: str | None = None
) -> Form:
    """Change the form; its code (its page's URL) stays, its submissions stay."""
    _check_name(session, form.shop_id, spec.name, form.id)
    channel = routes.shop_channel(session, form.shop_id, spec.channel)
    _check_references(session, form.shop_id, channel, spec)
    if channel.id != form.channel_id and _has_submissions(session, form):
        raise Conflict("a form that has answers stays on its LINE account: make a new form")
    _apply(form, spec, channel)
    session.flush()
    _audit(session, form, actor, "form.changed", ip)
    return form


def delete_form(session: Session, *, form: Form, actor: str, ip: str | None = None) -> None:
    """Delete the form with its opens and submissions (the fields and tags they set stay)."""
    _audit(session, form, actor, "form.deleted", ip)
    session.execute(delete(FormSubmission).where(FormSubmission.form_id == form.id))
    session.execute(delete(FormOpen).where(FormOpen.form_id == form.id))
    session.delete(form)
    session.flush()


def _has_submissions(session: Session, form: Form) -> bool:
    found = select(FormSubmission.id).where(FormSubmission.form_id == form.id)
    return session.scalar(found.limit(1)) is not None


def _audit(session: Session, form: Form, actor: str, action: str, ip: str | None) -> None:
    audit.record(
        session,
        shop_id=form.shop_id,
        actor=actor,
        action=action,
        subject_type="form",
        subject_id=form.id,
        name=form.name,
        policy=form.policy,
        questions=len(form.questions),
        actions=form.actions,
        ip=ip,
    )


def _friend(
    session: Session, form: Form, id_token: str, settings: Settings, now: datetime
) -> tuple[str, Friend | None]:
    channel = session.get_one(Channel, form.channel_id)
    return liff.identify(session, channel=channel, id_token=id_token, settings=settings, now=now)


def latest_submission(session: Session, form: Form, friend_id: int) -> FormSubmission | None:
    return session.scalar(
        select(FormSubmission)
        .where(FormSubmission.form_id == form.id, FormSubmission.friend_id == friend_id)
        .order_by(FormSubmission.id.desc())
        .limit(1)
    )


def answers_of(submission: FormSubmission) -> dict[str, Answer]:
    loaded: dict[str, Answer] = json.loads(submission.answers)
    return loaded


def _state(form: Form, answered: bool, now: datetime) -> FormState:
    if form.opens_at is not None and now < as_utc(form.opens_at):
        return FormState.NOT_YET
    if form.closes_at is not None and now >= as_utc(form.closes_at):
        return FormState.CLOSED
    if answered and form.policy == Policy.ONCE:
        return FormState.ANSWERED
    return FormState.OPEN


def open_form(
    session: Session, *, code: str, id_token: str, language: str, settings: Settings, now: datetime
) -> OpenOut:
    """Record that the LINE user opened the form; say whether they may answer it now, with
    their latest answers when they may change them."""
    form = form_of_code(session, code)
    line_user_id, friend = _friend(session, form, id_token, settings, now)
    session.add(
        FormOpen(
            shop_id=form.shop_id,
            form_id=form.id,
            line_user_id=line_user_id,
            friend_id=None if friend is None else friend.id,
            opened_at=now,
        )
    )
    latest = None if friend is None else latest_submission(session, form, friend.id)
    state = _state(form, latest is not None, now)
    if state == FormState.OPEN and (friend is None or friend.status != FriendStatus.FOLLOWED):
        state = FormState.NOT_A_FRIEND
    shown: dict[str, Answer] = {}
    if latest is not None and form.policy == Policy.EDITABLE:
        shown = answers_of(latest)
    message = STATE_MESSAGES.get(state, {}).get(language_of(language))
    return OpenOut(state=state, message=message, answers=shown)


def submit(
    session: Session, *, code: str, body: SubmitIn, settings: Settings, now: datetime
) -> SubmitOut:
    """Check and save the friend's answers, then map them and run the form's actions."""
    form = form_of_code(session, code)
    _line_user_id, friend = _friend(session, form, body.id_token, settings, now)
    language = language_of(body.language)
    if friend is None or friend.status != FriendStatus.FOLLOWED:
        raise NotAFriend(STATE_MESSAGES[FormState.NOT_A_FRIEND][language])
    _check_may_submit(session, form, friend, language, now)
    answers, errors = check(questions_of(form), body.answers, language)
    if errors:
        raise InvalidAnswers(CHECK_ANSWERS[language], fields=errors)
    submission = FormSubmission(
        shop_id=form.shop_id,
        form_id=form.id,
        friend_id=friend.id,
        answers=json.dumps(answers, ensure_ascii=False),
        language=language,
        outcome=[],
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    submission.outcome = actions.run(
        session,
        friend=friend,
        steps=steps_for(form, answers),
        actor=f"form:{form.name}",
        key=f"form-submission-{submission.id}",
        settings=settings,
    )
    on_submitted(session, submission)
    return SubmitOut(submission_id=submission.id, thanks=form.thanks or DEFAULT_THANKS[language])


def _check_may_submit(
    session: Session, form: Form, friend: Friend, language: str, now: datetime
) -> None:
    latest = latest_submission(session, form, friend.id)
    state = _state(form, latest is not None, now)
    if state != FormState.OPEN:
        raise FormNotOpen(STATE_MESSAGES[state][language])
    recent = session.scalar(
        select(func.count(FormSubmission.id)).where(
            FormSubmission.form_id == form.id,
            FormSubmission.friend_id == friend.id,
            FormSubmission.submitted_at > now - RATE_WINDOW,
        )
    )
    if (recent or 0) >= RATE_LIMIT:
        raise TooManySubmissions(
            "送信が多すぎます。しばらくしてからお試しください。"
            if language == "ja"
            else "Too many submissions: please try again in a few minutes."
        )


def steps_for(form: Form, answers: dict[str, Answer]) -> list[actions.Step]:
    """What the answers set (fields, member attributes, the picked choices' tags), then the
    form's actions, as the runner's steps."""
    kinds = actions.StepKind
    steps: list[actions.Step] = []
    for question in questions_of(form):
        if question.key is None or question.key not in answers:
            continue
        answer = answers[question.key]
        if question.field:
            steps.append(actions.Step(kinds.FIELD, question.field, as_text(answer)))
        if question.attribute:
            steps.append(actions.Step(kinds.ATTRIBUTE, question.attribute, as_text(answer)))
        picked = answer if isinstance(answer, list) else [answer]
        for choice in question.choices:
            if choice.label in picked:
                steps += [actions.Step(kinds.TAG, tag) for tag in choice.tags]
    for raw in form.actions:
        steps.append(actions.Step(kinds(raw["kind"]), raw.get("target", ""), raw.get("value")))
    return steps


def on_submitted(session: Session, submission: FormSubmission) -> None:
    """Once a submission is saved and its mapping and actions ran: the tag rules on the form's
    answers fire (``form_answer``)."""
    form = session.get_one(Form, submission.form_id)
    tag_rule_events.on_form_answer(session, submission.friend_id, form.name, answers_of(submission))


@tagging.names_tags("forms")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """The tags a form's choices give and its tag actions, for the answers to come."""
    changed = 0
    for form in session.scalars(select(Form).where(Form.shop_id == shop_id)):
        questions, count = tagging.renamed_tree(form.questions, frozenset({"tags"}), old, new)
        renamed = actions.renamed_steps(form.actions, old, new)
        if count or renamed != form.actions:
            form.questions, form.actions = questions, renamed
            changed += 1
    return changed
