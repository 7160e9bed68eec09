"""The admin API under ``/api/admin/v1``: bearer tokens from ``tsunagu token create``, each
scoped to one shop; every query is filtered to that shop."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin import (
    audit,
    autoreplies,
    campaigns,
    chart_actions,
    commerce,
    connections,
    consents,
    coupons,
    events,
    fields,
    follow_routes,
    forms,
    friends,
    inbox,
    inbox_compose,
    links,
    media,
    members,
    privacy,
    reminders,
    segments,
    sequences,
    tag_rules,
    tags,
    tracked_links,
)
from api.admin.schemas import ErrorBody

router = APIRouter(
    prefix="/api/admin/v1",
    responses={
        401: {"model": ErrorBody, "description": "Missing, unknown or revoked token"},
        422: {"model": ErrorBody, "description": "Malformed request: `ValidationFailed`"},
    },
)
router.include_router(friends.router)
router.include_router(chart_actions.router)
router.include_router(tags.router)
router.include_router(fields.router)
router.include_router(members.router)
router.include_router(links.router)
router.include_router(events.router)
router.include_router(audit.router)
router.include_router(connections.router)
router.include_router(commerce.router)
router.include_router(campaigns.router)
router.include_router(coupons.router)
router.include_router(reminders.router)
router.include_router(segments.router)
router.include_router(sequences.router)
router.include_router(privacy.router)
router.include_router(consents.router)
router.include_router(media.router)
router.include_router(autoreplies.router)
router.include_router(inbox.router)
router.include_router(inbox_compose.router)
router.include_router(follow_routes.router)
router.include_router(tag_rules.router)
router.include_router(tracked_links.router)
router.include_router(forms.router)

__all__ = ["router"]
