"""Bulk actions over the friends a list's filters match: tag, untag, set the owner or a field.

An action is a ``FriendBulkJob`` row, audited once when staff ask for it. It works through the
matching friends in id order, a batch at a time, with set-based SQL (one ``INSERT``/``DELETE``
per batch, not a row at a time). Up to ``SYNC_LIMIT`` friends it runs at once in the request;
above that a worker runs it (``friends.bulk``), committing each batch, so staff see its
progress and a crash resumes after the last committed batch (``sweep`` finds stalled jobs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import CursorResult, Delete, delete, insert, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, NotFound
from crm import fields
from crm.field_schemas import FieldKey
from crm.models import FieldDefinition, FriendOwner
from crm.owners import NotShopStaff, shop_staff
from idlink import tagging
from idlink.models import Friend, Tag
from idlink.tag_schemas import TagCreate, TagName
from messaging.friend_list import queries
from messaging.friend_list.filters import FriendFilters
from messaging.friend_list.models import BulkAction, BulkState, FriendBulkJob
from staff.permissions import Action
from staff.service import normalize_email

SYNC_LIMIT = 1000
# Batches are about a twentieth of the job (its progress moves in steps of ~5%), within these
# bounds: a batch is one statement, and a commit per hundred rows would be slow.
BATCH_MIN, BATCH_MAX, STEPS = 100, 5000, 20
# A running job whose last batch is older than this is taken up again by the sweep.
STALLED_AFTER = timedelta(minutes=2)


class BulkIn(BaseModel):
    """What to do to every friend the filters match: add or remove ``tag``, make ``owner``
    (a staff member's email; null for nobody) their owner, or give custom field ``field`` the
    value ``value`` (null or empty: clear it)."""

    action: BulkAction
    tag: TagName | None = None
    owner: str | None = Field(None, max_length=254)
    field: FieldKey | None = None
    value: str | bool | list[Annotated[str, Field(max_length=500)]] | None = Field(
        None,
        description="As the field's type takes it: text, a number, YYYY-MM-DD, a choice, "
        "true/false, or a list of choices ('a|b' in a form).",
    )

    @field_validator("tag", "owner", "field", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """A form's empty field (the tag box beside the owner's button) says nothing."""
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("value", mode="before")
    @classmethod
    def _one_is_one(cls, value: object) -> object:
        """A form's one value arrives as a list of one; it means that value (for a field of
        several choices too: "a" is ["a"])."""
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value

    @model_validator(mode="after")
    def _argument(self) -> BulkIn:
        if self.action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG) and not self.tag:
            raise ValueError(f"`{self.action.value}` needs a `tag`")
        if self.action is BulkAction.SET_FIELD and not self.field:
            raise ValueError("`set_field` needs a `field`")
        return self


# What each action needs of the staff member (the console) or is (the admin API's owner).
REQUIRED = {
    BulkAction.ADD_TAG: Action.TAG_FRIENDS,
    BulkAction.REMOVE_TAG: Action.TAG_FRIENDS,
    BulkAction.SET_OWNER: Action.ASSIGN_OWNER,
    BulkAction.SET_FIELD: Action.WRITE_FIELDS,
}


class BulkJobNotFound(NotFound):
    """No bulk action with this id in the caller's shop."""


class NothingToDo(BadRequest):
    """The filters match no friend: nothing was changed."""


def start(
    session: Session,
    *,
    shop_id: int,
    filters: FriendFilters,
    body: BulkIn,
    actor: str,
    channel_scope: Sequence[str] | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> FriendBulkJob:
    """Record and audit the action; run it now when it is small, else leave it to a worker."""
    now = now or utcnow()
    job = FriendBulkJob(
        shop_id=shop_id,
        actor=actor,
        action=body.action,
        filters=filters.model_dump(mode="json", exclude_defaults=True),
        channel_scope=list(channel_scope) if channel_scope is not None else None,
        as_of=now,
        created_at=now,
        state=BulkState.RUNNING,
        done=0,
        changed=0,
        last_friend_id=0,
    )
    if body.action is BulkAction.SET_OWNER:
        job.owner_id = _owner_id(session, shop_id, body.owner)
    elif body.action is BulkAction.SET_FIELD:
        assert body.field is not None
        definition = fields.get(session, shop_id, body.field)
        fields.parse(definition, body.value)  # refused now, not in a batch
        job.field_id, job.field_value = definition.id, body.value
    else:
        assert body.tag is not None
        create = body.action is BulkAction.ADD_TAG
        job.tag_id = _tag_id(session, shop_id, body.tag, create=create, actor=actor, ip=ip)
    query = queries.filtered(session, shop_id, filters, channel_scope=channel_scope, now=now)
    job.total = queries.count(session, query)
    if job.total == 0:
        raise NothingToDo("no friend matches these filters: nothing to do")
    session.add(job)
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action=f"friends.bulk_{body.action.value}",
        subject_type="friend_bulk_job",
        subject_id=job.id,
        now=now,
        tag=body.tag,
        owner=body.owner,
        field=body.field,
        value=body.value,
        filters=job.filters,
        friends=job.total,
        ip=ip,
    )
    if job.total <= SYNC_LIMIT:
        while run_batch(session, job):
            pass
    else:
        enqueue_after_commit(session, "friends.bulk", job_id=job.id)
    return job


def _tag_id(
    session: Session, shop_id: int, name: str, *, create: bool, actor: str, ip: str | None
) -> int | None:
    """The tag's id; adding a tag the shop lacks creates it, audited like any new tag."""
    tag = tagging.find_tag(session, shop_id=shop_id, name=name)
    if tag is None and create:
        body = TagCreate(name=name)
        tag = tagging.create_tag(session, shop_id=shop_id, body=body, actor=actor, ip=ip)
    return tag.id if tag is not None else None


def _owner_id(session: Session, shop_id: int, email: str | None) -> int | None:
    if email is None or not email.strip():
        return None
    wanted = normalize_email(email)
    staff = {e: i for i, e in shop_staff(session, shop_id)}
    if wanted not in staff:
        raise NotShopStaff(f"{wanted} is not a staff member of this shop")
    return staff[wanted]


def get(session: Session, *, shop_id: int, job_id: int) -> FriendBulkJob:
    job = session.get(FriendBulkJob, job_id)
    if job is None or job.shop_id != shop_id:
        raise BulkJobNotFound(f"no bulk action {job_id} in this shop")
    return job


def batch_size(total: int) -> int:
    return max(BATCH_MIN, min(BATCH_MAX, total // STEPS))


def run_batch(session: Session, job: FriendBulkJob) -> bool:
    """Apply the action to the next batch of matching friends; False once the job is done."""
    if job.state != BulkState.RUNNING:
        return False
    size = batch_size(job.total)
    filters = FriendFilters.model_validate(job.filters)
    query = queries.filtered(
        session, job.shop_id, filters, channel_scope=job.channel_scope, now=job.as_of
    )
    ids = list(
        session.scalars(
            query.with_only_columns(Friend.id)
            .where(Friend.id > job.last_friend_id)
            .order_by(Friend.id)
            .limit(size)
        )
    )
    if ids:
        job.changed += _apply(session, job, ids)
        job.done += len(ids)
        job.last_friend_id = ids[-1]
    job.touched_at = utcnow()
    if len(ids) < size:
        job.state = BulkState.DONE
        job.finished_at = utcnow()
        # Friends who came to match while it ran are done too: the total is what was done.
        job.total = max(job.total, job.done)
    session.flush()
    return job.state == BulkState.RUNNING


def _apply(session: Session, job: FriendBulkJob, ids: list[int]) -> int:
    """The batch's change, set-based (tags through ``tagging.tag_many``, which keeps each
    friend's tag history); how many friends it changed."""
    if job.action == BulkAction.SET_OWNER:
        owners = FriendOwner.__table__
        cleared = _rowcount(session, delete(owners).where(owners.c.friend_id.in_(ids)))
        if job.owner_id is None:
            return cleared
        session.execute(
            insert(owners),
            [
                {
                    "friend_id": friend_id,
                    "shop_id": job.shop_id,
                    "staff_user_id": job.owner_id,
                    "assigned_by": job.actor,
                    "assigned_at": job.as_of,
                }
                for friend_id in ids
            ],
        )
        return len(ids)
    if job.action == BulkAction.SET_FIELD:
        definition = session.get(FieldDefinition, job.field_id) if job.field_id else None
        if definition is None:  # deleted while the job ran
            return 0
        return fields.set_many(
            session,
            definition=definition,
            friend_ids=ids,
            value=fields.parse(definition, job.field_value),
            actor=job.actor,
            now=job.as_of,
        )
    tag = session.get(Tag, job.tag_id) if job.tag_id is not None else None
    if tag is None:
        return 0
    add = job.action == BulkAction.ADD_TAG
    return tagging.tag_many(session, tag=tag, friend_ids=ids, add=add, source=job.actor).changed


def _rowcount(session: Session, statement: Delete) -> int:
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def run_next(session: Session, job_id: int) -> bool:
    """Lock the job and run its next batch; False when nothing is left (or no such job)."""
    job = session.get(FriendBulkJob, job_id, with_for_update=True, populate_existing=True)
    return job is not None and run_batch(session, job)


def fail(session: Session, job_id: int, error: str) -> None:
    """Stop the job, saying why; what earlier batches did stays done."""
    job = session.get_one(FriendBulkJob, job_id)
    job.state = BulkState.FAILED
    job.error = error[:2000]
    job.finished_at = utcnow()


def stalled(session: Session, *, now: datetime | None = None) -> list[int]:
    """Running jobs that no worker has advanced lately (a lost nudge, a crashed worker)."""
    since = (now or utcnow()) - STALLED_AFTER
    return list(
        session.scalars(
            select(FriendBulkJob.id).where(
                FriendBulkJob.state == BulkState.RUNNING, FriendBulkJob.touched_at < since
            )
        )
    )


@tagging.names_tags("bulk actions")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """The filters of bulk actions still running select by the new name."""
    rows = session.scalars(
        select(FriendBulkJob).where(
            FriendBulkJob.shop_id == shop_id, FriendBulkJob.state == BulkState.RUNNING
        )
    )
    keys = frozenset({"tag", "tags_any", "tags_all", "tags_none"})
    return tagging.rename_in_rows(rows, ("filters",), keys, old, new)
