"""The shop's tags and who carries them: create, rename, colour, file in folders and delete
tags; tag friends one by one (a staff member, a script through the API) or many at once (a
CSV, a segment). Every change to a friend's tags is kept in their tag history with its source;
every change made by hand is also audited with its author."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit, db
from core.clock import utcnow
from core.errors import Conflict, NotFound
from idlink import friends
from idlink.models import Friend, FriendTag, FriendTagEvent, Tag
from idlink.tag_schemas import TagCreate, TagUpdate

# Rows per statement when tagging many friends: well under SQLite's and PostgreSQL's limits.
CHUNK = 1000


class TagNotFound(NotFound):
    """No tag with this id or name in the shop."""


class TagExists(Conflict):
    """The shop already has a tag with this name."""


# What rewrites the tag names stored in one kind of thing (segments' rules, auto-reply
# conditions...) from ``old`` to ``new`` within a shop; returns how many it changed.
TagRenamer = Callable[[Session, int, str, str], int]

# Every kind of thing that names tags, by what it is called in the rename's audit entry.
# Each such module registers itself with ``names_tags`` where it is defined, so a tag renamed
# here is renamed wherever it is named: a segment, a rule or an action naming the old name would
# otherwise match nobody or quietly create the old tag again.
_RENAMERS: dict[str, TagRenamer] = {}


def names_tags(what: str) -> Callable[[TagRenamer], TagRenamer]:
    """Register ``renamer`` as the one that follows a tag's rename in ``what``."""

    def register(renamer: TagRenamer) -> TagRenamer:
        _RENAMERS[what] = renamer
        return renamer

    return register


def renamers() -> dict[str, TagRenamer]:
    """What follows a rename, by what it renames in (a copy)."""
    return dict(_RENAMERS)


def renamed_tree(tree: Any, keys: frozenset[str], old: str, new: str) -> tuple[Any, int]:
    """A copy of the JSON ``tree`` where each value under one of ``keys`` that names ``old``
    (the string, or an item of a list of names) names ``new``, with how many did. A list that
    held both names keeps one."""
    if isinstance(tree, list):
        items = [renamed_tree(item, keys, old, new) for item in tree]
        return [item for item, _ in items], sum(count for _, count in items)
    if not isinstance(tree, dict):
        return tree, 0
    copy: dict[str, Any] = {}
    changed = 0
    for key, value in tree.items():
        if key in keys and value == old:
            value, changed = new, changed + 1
        elif key in keys and isinstance(value, list) and old in value:
            value = list(dict.fromkeys(new if name == old else name for name in value))
            changed += 1
        else:
            value, count = renamed_tree(value, keys, old, new)
            changed += count
        copy[key] = value
    return copy, changed


def rename_in_rows(
    rows: Iterable[Any], columns: tuple[str, ...], keys: frozenset[str], old: str, new: str
) -> int:
    """Rename ``old`` to ``new`` under ``keys`` in the JSON ``columns`` of ``rows`` (ORM
    objects, written back when changed); returns how many rows changed."""
    changed = 0
    for row in rows:
        touched = False
        for column in columns:
            tree, count = renamed_tree(getattr(row, column), keys, old, new)
            if count:
                setattr(row, column, tree)
                touched = True
        changed += touched
    return changed


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    changed: int
    unchanged: int


def add_by_hand(
    session: Session, *, friend: Friend, name: str, actor: str, ip: str | None = None
) -> bool:
    """Tag the friend on behalf of ``actor``; False (and nothing audited) when already tagged."""
    added = friends.add_tag(session, friend=friend, name=name, source=actor)
    if added:
        _audit_friend(session, friend, "friend.tag_added", name, actor, ip)
    return added


def remove_by_hand(
    session: Session, *, friend: Friend, name: str, actor: str, ip: str | None = None
) -> bool:
    """Remove the friend's tag on behalf of ``actor``; False when they did not have it."""
    removed = friends.remove_tag(session, friend=friend, name=name, source=actor)
    if removed:
        _audit_friend(session, friend, "friend.tag_removed", name, actor, ip)
    return removed


def _audit_friend(
    session: Session, friend: Friend, action: str, name: str, actor: str, ip: str | None
) -> None:
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=actor,
        action=action,
        subject_type="friend",
        subject_id=friend.id,
        tag=name,
        ip=ip,
    )


def get_tag(session: Session, *, shop_id: int, tag_id: int) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.shop_id == shop_id, Tag.id == tag_id))
    if tag is None:
        raise TagNotFound(f"no tag {tag_id} in this shop: GET /tags lists them")
    return tag


def find_tag(session: Session, *, shop_id: int, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.shop_id == shop_id, Tag.name == name))


def create_tag(
    session: Session, *, shop_id: int, body: TagCreate, actor: str, ip: str | None = None
) -> Tag:
    """A new tag; TagExists when the shop has one by that name."""
    if find_tag(session, shop_id=shop_id, name=body.name) is not None:
        raise TagExists(f"the shop already has a tag {body.name!r}")
    tag = Tag(shop_id=shop_id, name=body.name, colour=body.colour, folder=body.folder)
    _flush_name(session, tag, body.name, lambda: session.add(tag))
    _audit_tag(session, tag, "tag.created", actor, ip, colour=tag.colour, folder=tag.folder)
    return tag


def update_tag(
    session: Session, *, tag: Tag, body: TagUpdate, actor: str, ip: str | None = None
) -> Tag:
    """Rename, recolour or move the tag to a folder (only what ``body`` sets); audited with
    each value before and after. Friends keep the tag under its new name, and everything that
    names it (segments, sequences, rules, actions, tracked links) names the new one."""
    changes: dict[str, list[str | None]] = {}
    for field in ("name", "colour", "folder"):
        if field not in body.model_fields_set:
            continue
        value = getattr(body, field)
        if value is None and field != "folder":
            continue
        if value != getattr(tag, field):
            changes[field] = [getattr(tag, field), value]
    if "name" in changes:
        new_name = str(changes["name"][1])
        if find_tag(session, shop_id=tag.shop_id, name=new_name) is not None:
            raise TagExists(f"the shop already has a tag {new_name!r}")
    if changes:

        def change() -> None:
            for field, (_, value) in changes.items():
                setattr(tag, field, value)

        _flush_name(session, tag, body.name or tag.name, change)
        renamed: dict[str, int] = {}
        if "name" in changes:
            old, new = str(changes["name"][0]), str(changes["name"][1])
            for what, renamer in _RENAMERS.items():
                if count := renamer(session, tag.shop_id, old, new):
                    renamed[what] = count
        _audit_tag(session, tag, "tag.updated", actor, ip, **changes, **_renamed(renamed))
    return tag


def _renamed(renamed: dict[str, int]) -> dict[str, dict[str, int]]:
    return {"renamed_in": renamed} if renamed else {}


def _flush_name(session: Session, tag: Tag, name: str, write: Callable[[], None]) -> None:
    """Write the tag; a name taken meanwhile by another request is TagExists, not a 500."""
    try:
        with session.begin_nested():
            write()
            session.flush()
    except IntegrityError as exc:
        raise TagExists(f"the shop already has a tag {name!r}") from exc


def delete_tag(session: Session, *, tag: Tag, actor: str, ip: str | None = None) -> int:
    """Delete the tag and take it off every friend (kept in their tag history); returns how
    many friends carried it."""
    carriers = select(
        literal(tag.shop_id, FriendTagEvent.shop_id.type),
        FriendTag.friend_id,
        literal(tag.name, FriendTagEvent.tag_name.type),
        literal(False, FriendTagEvent.added.type),
        literal(actor[:200], FriendTagEvent.source.type),
        literal(utcnow(), FriendTagEvent.at.type),
    ).where(FriendTag.tag_id == tag.id)
    session.execute(
        insert(FriendTagEvent).from_select(
            ["shop_id", "friend_id", "tag_name", "added", "source", "at"], carriers
        )
    )
    result = session.execute(delete(FriendTag).where(FriendTag.tag_id == tag.id))
    untagged = int(getattr(result, "rowcount", 0) or 0)
    _audit_tag(session, tag, "tag.deleted", actor, ip, friends_untagged=untagged)
    session.delete(tag)
    session.flush()
    return untagged


def _audit_tag(
    session: Session, tag: Tag, action: str, actor: str, ip: str | None, **detail: Any
) -> None:
    audit.record(
        session,
        shop_id=tag.shop_id,
        actor=actor,
        action=action,
        subject_type="tag",
        subject_id=tag.id,
        tag=tag.name,
        ip=ip,
        **detail,
    )


def shop_friend_ids(session: Session, *, shop_id: int, friend_ids: Iterable[int]) -> set[int]:
    """Those of ``friend_ids`` that are friends of the shop."""
    found: set[int] = set()
    ids = list(dict.fromkeys(friend_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            session.scalars(
                select(Friend.id).where(Friend.shop_id == shop_id, Friend.id.in_(chunk))
            )
        )
    return found


def tag_many(
    session: Session, *, tag: Tag, friend_ids: Sequence[int], add: bool, source: str
) -> BulkOutcome:
    """Put the tag on (``add``) or take it off the friends, a chunk per statement, each change
    kept in the friend's tag history. ``friend_ids`` must be the tag's shop's friends; the
    caller audits the whole (``audit_bulk``)."""
    changed = unchanged = 0
    now = utcnow()
    ids = list(dict.fromkeys(friend_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        carrying = set(
            session.scalars(
                select(FriendTag.friend_id).where(
                    FriendTag.tag_id == tag.id, FriendTag.friend_id.in_(chunk)
                )
            )
        )
        targets = [i for i in chunk if (i not in carrying) == add]
        if not targets:
            unchanged += len(chunk)
            continue
        # Only the rows this statement changed count and enter the history: a click or a
        # staff member may have tagged (or untagged) one of these friends meanwhile.
        if add:
            targets = list(
                session.scalars(
                    db.insert(session, FriendTag)
                    .on_conflict_do_nothing(index_elements=["friend_id", "tag_id"])
                    .returning(FriendTag.friend_id),
                    [
                        {"friend_id": i, "tag_id": tag.id, "source": source[:64], "created_at": now}
                        for i in targets
                    ],
                )
            )
        else:
            targets = list(
                session.scalars(
                    delete(FriendTag)
                    .where(FriendTag.tag_id == tag.id, FriendTag.friend_id.in_(targets))
                    .returning(FriendTag.friend_id)
                )
            )
        if not targets:
            unchanged += len(chunk)
            continue
        session.execute(
            insert(FriendTagEvent),
            [
                {
                    "shop_id": tag.shop_id,
                    "friend_id": i,
                    "tag_name": tag.name,
                    "added": add,
                    "source": source[:200],
                    "at": now,
                }
                for i in targets
            ],
        )
        changed += len(targets)
        unchanged += len(chunk) - len(targets)
    session.flush()
    return BulkOutcome(changed=changed, unchanged=unchanged)


def audit_bulk(
    session: Session,
    *,
    tag: Tag,
    add: bool,
    actor: str,
    outcome: BulkOutcome,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """One audit record for tagging or untagging many friends, however many batches it took."""
    action = "tag.bulk_added" if add else "tag.bulk_removed"
    _audit_tag(
        session,
        tag,
        action,
        actor,
        ip,
        changed=outcome.changed,
        unchanged=outcome.unchanged,
        **detail,
    )
