"""メッセージテンプレート in the console: the shop's saved templates listed, written (as up to
five texts, or LINE message objects as JSON), previewed for a friend who wrote recently, and
deleted after a confirmation. Admins and owners, as for canned replies; the same service as the
admin API's ``/message-templates``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff
from console.context import PREFIX, render
from core.errors import HubError
from core.ids import RowId
from idlink.queries import FriendNotFound, find_friend
from inbox import queries
from messaging.compose import library, templates
from messaging.compose.library import NamedTemplateIn, TemplateNameTaken
from messaging.compose.models import MessageTemplate
from messaging.outbox.payloads import MAX_MESSAGES, MAX_TEXT_UTF16_UNITS, Message, utf16_length
from staff.permissions import Action

router = APIRouter(prefix="/inbox/templates")

LIMIT = 20_000
NAME_MAX = 100


@dataclass(slots=True)
class Problem:
    """Why a template was not saved: a code the page words in the staff member's language."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TemplateForm:
    """The editor as typed: a name, up to five texts, or LINE message objects as JSON."""

    name: str = ""
    texts: list[str] = field(default_factory=lambda: [""] * MAX_MESSAGES)
    json: str = ""

    @classmethod
    def of(cls, template: MessageTemplate) -> TemplateForm:
        messages = template.messages
        if all(set(m) == {"type", "text"} and m["type"] == "text" for m in messages):
            texts = [str(m["text"]) for m in messages]
            return cls(template.name, texts + [""] * (MAX_MESSAGES - len(texts)))
        return cls(template.name, json=json.dumps(messages, ensure_ascii=False, indent=2))

    def messages(self) -> list[Message]:
        """The messages the form holds; ``Problem`` when it holds none LINE could take."""
        if self.json.strip():
            try:
                found = json.loads(self.json)
            except json.JSONDecodeError as exc:
                raise ProblemError(Problem("json", {"detail": str(exc)})) from exc
            found = found if isinstance(found, list) else [found]
            if not all(isinstance(m, dict) for m in found):
                raise ProblemError(Problem("json", {"detail": "not LINE message objects"}))
            return found
        return [{"type": "text", "text": text} for text in self.texts if text.strip()]


class ProblemError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


async def _typed(request: Request) -> TemplateForm:
    sent = await request.form()

    def value(key: str) -> str:
        found = sent.get(key)
        return found[:LIMIT] if isinstance(found, str) else ""

    texts = [value(f"text_{n}") for n in range(1, MAX_MESSAGES + 1)]
    return TemplateForm(value("name").strip(), texts, value("json"))


def _checked(form: TemplateForm, available: set[str]) -> NamedTemplateIn:
    """The admin API's body for the form, or ``ProblemError`` naming what to fix."""
    if not form.name:
        raise ProblemError(Problem("name_empty"))
    if len(form.name) > NAME_MAX:
        raise ProblemError(Problem("name_long", {"max": NAME_MAX, "length": len(form.name)}))
    messages = form.messages()
    if not messages:
        raise ProblemError(Problem("no_message"))
    if len(messages) > MAX_MESSAGES:
        raise ProblemError(Problem("too_many", {"max": MAX_MESSAGES, "num": len(messages)}))
    problem = variables_problem(messages, available)
    if problem is not None:
        raise ProblemError(problem)
    try:
        return NamedTemplateIn(name=form.name, messages=messages)
    except ValidationError as exc:
        raise ProblemError(Problem("name_control")) from exc


def variables_problem(messages: list[Message], available: set[str]) -> Problem | None:
    """What staff must fix in the messages' variables: one unknown here, or a text too long for
    LINE once every variable is at its longest (None: nothing of the kind)."""
    unknown = templates.unknown_variables(messages, available=available)
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        return Problem("unknown", {"names": names})
    for number, message in enumerate(templates.at_longest(messages, available=available), 1):
        if message.get("type") == "text":
            length = utf16_length(str(message.get("text", "")))
            if length > MAX_TEXT_UTF16_UNITS:
                values = {"number": number, "length": length, "max": MAX_TEXT_UTF16_UNITS}
                return Problem("too_long", values)
    return None


def _variables(session: Session, staff: Staff) -> list[str]:
    return sorted(library.available(session, staff.shop.id))


def _editor(
    request: Request,
    staff: Staff,
    session: Session,
    form: TemplateForm,
    *,
    template: MessageTemplate | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response:
    values: dict[str, Any] = {
        "form": form,
        "template": template,
        "problem": problem,
        "variables": _variables(session, staff),
        "done": request.query_params.get("done"),
    }
    if template is not None:
        friend = request.query_params.get("friend", "")
        friend_id = int(friend) if friend.isdigit() and len(friend) < 12 else None
        values["friends"] = queries.recent_friends(
            session, staff.shop.id, channel_scope=staff.channel_scope
        )
        values["friend_id"] = friend_id
        if friend_id is not None:
            try:
                chosen = find_friend(
                    session, staff.shop.id, friend_id, channel_scope=staff.channel_scope
                )
            except FriendNotFound:
                values["friend_id"] = None
            else:
                values["preview"] = library.preview(session, template=template, friend=chosen)
                values["preview_name"] = chosen.display_name or f"#{chosen.id}"
    return render(request, "inbox/template.html", values, status_code=status_code)


@router.get("")
def templates_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The shop's message templates by name."""
    staff.require(Action.MANAGE_INBOX)
    return render(
        request,
        "inbox/templates.html",
        {
            "templates": library.listed(session, staff.shop.id),
            "done": request.query_params.get("done"),
        },
    )


@router.get("/new")
def new_template(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_INBOX)
    return _editor(request, staff, session, TemplateForm())


async def _save(
    request: Request, staff: Staff, session: Session, template: MessageTemplate | None
) -> Response:
    form = await _typed(request)
    try:
        body = _checked(form, set(_variables(session, staff)))
        saved = library.save(
            session,
            shop_id=staff.shop.id,
            body=body,
            actor=staff.actor,
            template_id=None if template is None else template.id,
        )
    except ProblemError as refused:
        problem, status_code = refused.problem, 422
    except TemplateNameTaken as exc:
        problem, status_code = Problem("taken", {"name": form.name}), exc.status_code
    except HubError as exc:
        problem, status_code = Problem("line", {"detail": exc.detail}), exc.status_code
    else:
        return RedirectResponse(f"{PREFIX}/inbox/templates/{saved.id}?done=saved", status_code=303)
    return _editor(
        request,
        staff,
        session,
        form,
        template=template,
        problem=problem,
        status_code=status_code,
    )


@router.post("/new")
async def create_template(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """A new template; refused with the reason, nothing saved and the form kept as typed."""
    staff.require(Action.MANAGE_INBOX)
    return await _save(request, staff, session, None)


@router.get("/{template_id}")
def edit_template(
    request: Request, template_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The template's editor, and its preview for the friend chosen (``?friend=ID``)."""
    staff.require(Action.MANAGE_INBOX)
    template = library.get(session, staff.shop.id, template_id)
    return _editor(request, staff, session, TemplateForm.of(template), template=template)


@router.post("/{template_id}")
async def update_template(
    request: Request, template_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    staff.require(Action.MANAGE_INBOX)
    template = library.get(session, staff.shop.id, template_id)
    return await _save(request, staff, session, template)


@router.get("/{template_id}/delete")
def confirm_delete(
    request: Request, template_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """Ask before deleting: replies already sent with the template are kept."""
    staff.require(Action.MANAGE_INBOX)
    template = library.get(session, staff.shop.id, template_id)
    return render(request, "inbox/template_delete.html", {"template": template})


@router.post("/{template_id}/delete")
def delete_template(template_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_INBOX)
    template = library.get(session, staff.shop.id, template_id)
    library.delete(session, shop_id=staff.shop.id, template_id=template.id, actor=staff.actor)
    return RedirectResponse(f"{PREFIX}/inbox/templates?done=deleted", status_code=303)
