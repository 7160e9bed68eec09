"""Tag rules: what adds and removes tags on its own (a purchase, a booking, a link, a lapse, a
follow route, a form answer, a click, a rich-menu tap), each with how often it fired."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin.auth import Actor
from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, OpenApiResponses, Page
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from growth.tagrules import queries, rules
from growth.tagrules.schemas import TagRuleHitOut, TagRuleList, TagRuleOut, TagRuleSpec

router = APIRouter(tags=["tag rules"])

NOT_FOUND: OpenApiResponses = {404: {"model": ErrorBody, "description": "No such tag rule"}}
EXISTS: OpenApiResponses = {
    409: {"model": ErrorBody, "description": "The shop has a tag rule by that name"}
}


@router.get("/tag-rules", summary="List tag rules")
def list_rules(session: DbSession, shop: CurrentShop) -> TagRuleList:
    """Every tag rule of the shop by name, with how many events it acted on."""
    return TagRuleList(items=queries.rule_list(session, shop.id))


@router.post("/tag-rules", summary="Create a tag rule", status_code=201, responses=EXISTS)
def create_rule(
    body: TagRuleSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> TagRuleOut:
    """A new rule; it acts on events from now on. Audited with the token's name."""
    rule = rules.save_rule(session, shop_id=shop.id, spec=body, actor=actor)
    return queries.one_rule(session, rule)


@router.get("/tag-rules/{rule_id}", summary="Get a tag rule", responses=NOT_FOUND)
def get_rule(rule_id: RowId, session: DbSession, shop: CurrentShop) -> TagRuleOut:
    return queries.one_rule(session, rules.get_rule(session, shop_id=shop.id, rule_id=rule_id))


@router.put("/tag-rules/{rule_id}", summary="Change a tag rule", responses=NOT_FOUND | EXISTS)
def change_rule(
    rule_id: RowId, body: TagRuleSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> TagRuleOut:
    """Replace the rule's name, trigger, tags and state; a new trigger (or switching it back
    on) acts on events from now on."""
    rule = rules.get_rule(session, shop_id=shop.id, rule_id=rule_id)
    rules.save_rule(session, shop_id=shop.id, spec=body, actor=actor, rule=rule)
    return queries.one_rule(session, rule)


@router.delete(
    "/tag-rules/{rule_id}", summary="Delete a tag rule", status_code=204, responses=NOT_FOUND
)
def delete_rule(rule_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> None:
    """Delete the rule and its hits; the tags it gave stay on the friends."""
    rule = rules.get_rule(session, shop_id=shop.id, rule_id=rule_id)
    rules.delete_rule(session, rule=rule, actor=actor)


@router.get("/tag-rules/{rule_id}/hits", summary="List a tag rule's hits", responses=NOT_FOUND)
def list_hits(
    rule_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TagRuleHitOut]:
    """The events the rule acted on, newest first: which friend, what event, when."""
    rule = rules.get_rule(session, shop_id=shop.id, rule_id=rule_id)
    items, next_cursor = queries.rule_hits(session, rule, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)
