"""タグ自動付与ルール: the shop's tag rules with how often each fired; a rule's editor and its
latest hits (admins and owners, as tags are). Same services as the admin API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.autoreply_forms import reasons
from console.context import PREFIX, render
from core.errors import HubError
from core.ids import RowId
from growth import queries as route_queries
from growth.tagrules import queries, rules
from growth.tagrules.models import TagRule
from growth.tagrules.schemas import TRIGGER_KINDS, TagRuleOut, TagRuleSpec
from messaging.compose import link_queries
from staff.permissions import Action

router = APIRouter()

# The latest hits shown on a rule's page (the admin API pages through all).
HITS_SHOWN = 50
# Each trigger's own fields in the editor's form: (form field, trigger key, is a list).
TRIGGER_FIELDS: dict[str, list[tuple[str, str, bool]]] = {
    "purchase": [
        ("purchase_number", "purchase_number", False),
        ("skus", "skus", True),
        ("product_ids", "product_ids", True),
        ("collections", "collections", True),
        ("min_total", "min_total", False),
    ],
    "total_spend": [("amount", "amount", False), ("currency", "currency", False)],
    "no_purchase": [("days", "days", False)],
    "booking": [("booking_status", "status", False), ("service", "service", False)],
    "follow_route": [("route", "route", False)],
    "form_answer": [
        ("form", "form", False),
        ("question", "question", False),
        ("choice", "choice", False),
    ],
    "click": [("link", "link", False)],
    "postback": [("data", "data", False)],
}


def _choices(session: Session, shop_id: int) -> dict[str, Any]:
    """What the editor offers to pick: the kinds, the routes and the tracked links by name."""
    return {
        "kinds": TRIGGER_KINDS,
        "route_names": [r.name for r in route_queries.routes_of(session, shop_id)],
        "link_names": [link.name for link in link_queries.link_list(session, shop_id)],
    }


def _list(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    values = {
        "rules": queries.rule_list(session, staff.shop.id),
        "error": error,
        "form": form or {},
        "done": request.query_params.get("done"),
        **_choices(session, staff.shop.id),
    }
    return render(request, "tag_rules/list.html", values, status_code=400 if error else 200)


@router.get("/tag-rules")
def rules_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Every tag rule with what triggers it, what it adds and removes, and its hits."""
    staff.require(Action.MANAGE_TAGS)
    return _list(request, staff, session)


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's text fields, trimmed (the CSRF token aside)."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace("、", ",").split(",") if w.strip()]


def spec_of_form(form: dict[str, str]) -> TagRuleSpec:
    """The editor's fields as the admin API's body: only the chosen trigger's own fields."""
    event = form.get("event", "")
    trigger: dict[str, Any] = {"event": event}
    for field, key, many in TRIGGER_FIELDS.get(event, []):
        value = form.get(field, "")
        if many:
            if _words(value):
                trigger[key] = _words(value)
        elif value:
            trigger[key] = value
    return TagRuleSpec.model_validate(
        {
            "name": form.get("name", ""),
            "trigger": trigger,
            "add": _words(form.get("add", "")),
            "remove": _words(form.get("remove", "")),
            "active": form.get("active") == "on",
        }
    )


def form_of(rule: TagRuleOut) -> dict[str, str]:
    """A rule as the editor's fields."""
    form = {
        "name": rule.name,
        "event": str(rule.trigger.get("event", "")),
        "add": ", ".join(rule.add),
        "remove": ", ".join(rule.remove),
        "active": "on" if rule.active else "",
    }
    for field, key, many in TRIGGER_FIELDS.get(form["event"], []):
        value = rule.trigger.get(key)
        if value is not None:
            form[field] = ", ".join(value) if many else str(value)
    return form


@router.post("/tag-rules")
async def create_rule(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """A new rule; it acts on events from now on."""
    staff.require(Action.MANAGE_TAGS)
    form = await form_fields(request)
    try:
        with session.begin_nested():
            rule = rules.save_rule(
                session,
                shop_id=staff.shop.id,
                spec=spec_of_form(form),
                actor=staff.actor,
                ip=client_ip(request),
            )
    except ValidationError as exc:
        return _list(request, staff, session, error=reasons(exc), form=form)
    except HubError as exc:
        return _list(request, staff, session, error=exc.detail, form=form)
    return RedirectResponse(f"{PREFIX}/tag-rules/{rule.id}?done=created", status_code=303)


def _detail(
    request: Request,
    staff: Staff,
    session: Session,
    rule: TagRule,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    out = queries.one_rule(session, rule)
    values = {
        "rule": out,
        "hits": queries.rule_hits(session, rule, limit=HITS_SHOWN, cursor=None)[0],
        "form": form or form_of(out),
        "error": error,
        "done": request.query_params.get("done"),
        **_choices(session, staff.shop.id),
    }
    return render(request, "tag_rules/rule.html", values, status_code=400 if error else 200)


@router.get("/tag-rules/{tag_rule_id}")
def rule_page(
    request: Request, tag_rule_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The rule's editor and the latest friends it acted on."""
    staff.require(Action.MANAGE_TAGS)
    rule = rules.get_rule(session, shop_id=staff.shop.id, rule_id=tag_rule_id)
    return _detail(request, staff, session, rule)


@router.post("/tag-rules/{tag_rule_id}")
async def save_rule(
    request: Request, tag_rule_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Save the rule (a new trigger, or switching it back on, acts from now on)."""
    staff.require(Action.MANAGE_TAGS)
    rule = rules.get_rule(session, shop_id=staff.shop.id, rule_id=tag_rule_id)
    form = await form_fields(request)
    try:
        with session.begin_nested():
            rules.save_rule(
                session,
                shop_id=staff.shop.id,
                spec=spec_of_form(form),
                actor=staff.actor,
                rule=rule,
                ip=client_ip(request),
            )
    except ValidationError as exc:
        return _detail(request, staff, session, rule, error=reasons(exc), form=form)
    except HubError as exc:
        session.refresh(rule)
        return _detail(request, staff, session, rule, error=exc.detail, form=form)
    return RedirectResponse(f"{PREFIX}/tag-rules/{rule.id}?done=saved", status_code=303)


@router.post("/tag-rules/{tag_rule_id}/delete")
def delete_rule(
    request: Request, tag_rule_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Delete the rule; the tags it gave stay on the friends."""
    staff.require(Action.MANAGE_TAGS)
    rule = rules.get_rule(session, shop_id=staff.shop.id, rule_id=tag_rule_id)
    rules.delete_rule(session, rule=rule, actor=staff.actor, ip=client_ip(request))
    return RedirectResponse(f"{PREFIX}/tag-rules?done=deleted", status_code=303)
