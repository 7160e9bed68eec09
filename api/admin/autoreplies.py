"""Auto-replies: keyword rules and FAQ entries declared by name, and the tester that says which
one would answer a message and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.admin.auth import Actor
from api.admin.schemas import NAME_MISMATCH, ErrorBody, require_path_name
from api.deps import CurrentShop, DbSession
from autoreply import queries, service
from autoreply.schemas import FaqList, FaqOut, FaqSpec, RuleList, RuleOut, RuleSpec, TryIn, TryOut

router = APIRouter(prefix="/auto-replies", tags=["auto-replies"])

RULE_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such rule (or channel) in this shop"}
}
FAQ_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such FAQ entry (or channel) in this shop"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": "Invalid spec, and why: a refused regular expression, an unknown field",
    }
}


class Deleted(BaseModel):
    deleted: str


@router.get("/rules", summary="List auto-reply rules")
def list_rules(session: DbSession, shop: CurrentShop) -> RuleList:
    """Every rule, highest priority first, with its hit count and the rules it overlaps."""
    return RuleList(items=service.rule_list(session, shop.id))


@router.put(
    "/rules/{name}",
    summary="Create or update an auto-reply rule",
    responses=NAME_MISMATCH | RULE_404 | INVALID,
)
def put_rule(
    name: str, body: RuleSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> RuleOut:
    """Declare the rule ``name``; the answer lists the rules it overlaps (``overlaps``)."""
    require_path_name(name, body)
    rule = service.find_rule(session, shop_id=shop.id, name=name)
    rule = service.save_rule(session, shop_id=shop.id, spec=body, actor=actor, rule=rule)
    return service.rule_out(session, rule, queries.rule_hits(session, shop.id))


@router.get("/rules/{name}", summary="Get an auto-reply rule", responses=RULE_404)
def get_rule(name: str, session: DbSession, shop: CurrentShop) -> RuleOut:
    rule = service.named_rule(session, shop_id=shop.id, name=name)
    return service.rule_out(session, rule, queries.rule_hits(session, shop.id))


@router.delete("/rules/{name}", summary="Delete an auto-reply rule", responses=RULE_404)
def delete_rule(name: str, session: DbSession, shop: CurrentShop, actor: Actor) -> Deleted:
    """Delete the rule and its hit counts; audited."""
    rule = service.named_rule(session, shop_id=shop.id, name=name)
    service.delete_rule(session, rule=rule, actor=actor)
    return Deleted(deleted=name)


@router.get("/faq", summary="List FAQ entries")
def list_faq(session: DbSession, shop: CurrentShop) -> FaqList:
    return FaqList(items=service.faq_list(session, shop.id))


@router.put(
    "/faq/{name}",
    summary="Create or update a FAQ entry",
    responses=NAME_MISMATCH | FAQ_404 | INVALID,
)
def put_faq(
    name: str, body: FaqSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> FaqOut:
    """Declare the entry ``name``: its question wordings, answer and threshold."""
    require_path_name(name, body)
    entry = service.find_faq(session, shop_id=shop.id, name=name)
    entry = service.save_faq(session, shop_id=shop.id, spec=body, actor=actor, entry=entry)
    return service.faq_out(session, entry, queries.faq_hits(session, shop.id))


@router.get("/faq/{name}", summary="Get a FAQ entry", responses=FAQ_404)
def get_faq(name: str, session: DbSession, shop: CurrentShop) -> FaqOut:
    entry = service.named_faq(session, shop_id=shop.id, name=name)
    return service.faq_out(session, entry, queries.faq_hits(session, shop.id))


@router.delete("/faq/{name}", summary="Delete a FAQ entry", responses=FAQ_404)
def delete_faq(name: str, session: DbSession, shop: CurrentShop, actor: Actor) -> Deleted:
    entry = service.named_faq(session, shop_id=shop.id, name=name)
    service.delete_faq(session, entry=entry, actor=actor)
    return Deleted(deleted=name)


@router.post(
    "/try",
    summary="Try a message against the rules and FAQ",
    responses={404: {"model": ErrorBody, "description": "No such channel or friend"}},
)
def try_message(body: TryIn, session: DbSession, shop: CurrentShop) -> TryOut:
    """Which rule or FAQ entry would answer ``text`` now, and why each would or would not
    (priority, hours in the channel's timezone, conditions, scores against thresholds).
    Sends nothing and counts no hit."""
    return service.try_message(session, shop_id=shop.id, body=body)
