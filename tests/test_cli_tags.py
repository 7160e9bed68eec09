"""``tsunagu tag add|remove`` by CSV or segment, and tags declared in ``tsunagu apply``."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Channel, Shop, create_channel
from idlink import friends
from idlink.models import Friend, FriendTagEvent, Tag
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from tests.api.admin_support import add_link, add_member
from tests.cli_runner import Cli


def _channel(db: Database, shop: Shop, channel_id: str = "1650000001") -> int:
    with db.session_scope() as session:
        return create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Main",
            line_channel_id=channel_id,
            channel_secret="s" * 32,
            access_token="t" * 40,
        ).id


def _friend(db: Database, channel_pk: int, n: int, *, tags: tuple[str, ...] = ()) -> int:
    with db.session_scope() as session:
        friend = friends.record_follow(
            session,
            channel=session.get_one(Channel, channel_pk),
            line_user_id=f"U{n:032x}",
            occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
        for tag in tags:
            friends.add_tag(session, friend=friend, name=tag, source="test")
        return friend.id


def tagged(db: Database, name: str) -> set[int]:
    with db.session_scope() as session:
        return {
            f.id for f in session.scalars(select(Friend)) if name in [t.tag.name for t in f.tags]
        }


def test_a_csv_of_member_numbers_and_line_user_ids_tags_their_friends_and_reports_the_rest(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    channel = _channel(db, shop)
    hanako, taro, other = (_friend(db, channel, n) for n in (1, 2, 3))
    add_link(db, shop.id, hanako, add_member(db, shop.id, "M-1"))
    add_member(db, shop.id, "M-2")
    path = tmp_path / "dm-list.csv"
    path.write_text(
        f"member_number,line_user_id\nM-1,\n,U{2:032x}\nM-9,\nM-2,\n,Uxyz\n\n,U{'e' * 32}\n",
        encoding="utf-8",
    )
    errors = tmp_path / "errors.csv"

    first = cli(
        "tag", "add", "DM希望", "--shop", shop.slug, "--csv", str(path), "--errors", str(errors)
    )
    again = cli("tag", "add", "DM希望", "--shop", shop.slug, "--csv", str(path))

    assert first.exit_code == 1, first.output
    assert "tagged 2, already tagged 0, failed 4 (6 rows)" in first.stdout
    assert "line 4 (M-9): no member with this number" in first.stderr
    assert "line 5 (M-2): the member is not linked to a LINE friend" in first.stderr
    assert "line 6 (Uxyz): not a LINE user id" in first.stderr
    assert f"line 8 (U{'e' * 32}): no friend of the shop has this LINE user id" in first.stderr
    with errors.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert [row[:2] for row in rows] == [
        ["line", "key"],
        ["4", "M-9"],
        ["5", "M-2"],
        ["6", "Uxyz"],
        ["8", f"U{'e' * 32}"],
    ]
    assert "tagged 0, already tagged 2, failed 4" in again.stdout
    assert tagged(db, "DM希望") == {hanako, taro} and other not in tagged(db, "DM希望")
    with db.session_scope() as session:
        sources = session.scalars(
            select(FriendTagEvent.source).where(FriendTagEvent.tag_name == "DM希望")
        ).all()
        audited = session.scalars(
            select(AuditLog.action).where(AuditLog.subject_type == "tag").order_by(AuditLog.id)
        ).all()
    assert sources == ["import:dm-list.csv", "import:dm-list.csv"]
    assert audited == ["tag.created", "tag.bulk_added", "tag.bulk_added"]


def test_a_segment_is_untagged_and_an_unknown_tag_or_a_missing_source_is_refused(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    channel = _channel(db, shop)
    vips = [_friend(db, channel, n, tags=("vip", "sale")) for n in (1, 2)]
    keep = _friend(db, channel, 3, tags=("sale",))
    with db.session_scope() as session:
        spec = SegmentSpec.model_validate({"name": "vips", "rules": {"tag": "vip"}})
        segments.save(session, shop_id=shop.id, spec=spec, actor="test")

    removed = cli("tag", "remove", "sale", "--shop", shop.slug, "--segment", "vips")
    unknown = cli("tag", "remove", "nothing", "--shop", shop.slug, "--segment", "vips")
    neither = cli("tag", "add", "x", "--shop", shop.slug)
    no_segment = cli("tag", "add", "x", "--shop", shop.slug, "--segment", "nope")

    assert removed.exit_code == 0, removed.output
    assert "untagged 2, not tagged 0, failed 0 (2 rows)" in removed.stdout
    assert tagged(db, "sale") == {keep} and tagged(db, "vip") == set(vips)
    assert unknown.exit_code == 1 and "the shop has no tag 'nothing'" in unknown.output
    assert neither.exit_code == 2 and "--segment or --csv" in neither.output
    assert no_segment.exit_code == 1
    with db.session_scope() as session:
        assert session.scalar(select(Tag).where(Tag.name == "x")) is None


def test_a_file_without_a_key_column_is_refused_before_anything_is_tagged(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    _channel(db, shop)
    path = tmp_path / "names.csv"
    path.write_text("name\n佐藤\n", encoding="utf-8")
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("member_number\n会員1\n".encode("cp932"))

    result = cli("tag", "add", "x", "--shop", shop.slug, "--csv", str(path))
    garbled = cli("tag", "add", "x", "--shop", shop.slug, "--csv", str(sjis))

    assert result.exit_code == 1
    assert "the header must name member_number or line_user_id" in result.output
    assert garbled.exit_code == 1 and "--encoding cp932" in garbled.output


TAGS = """\
shop: {slug}
tags:
  - name: vip
    colour: purple
    folder: 会員ランク
  - name: 新規
"""


def test_tags_declared_in_an_apply_file_are_created_then_changed_in_place(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(TAGS.format(slug=shop.slug), encoding="utf-8")

    applied = cli("apply", str(path), "--yes")
    again = cli("apply", str(path), "--yes")
    path.write_text(
        TAGS.format(slug=shop.slug)
        .replace("purple", "red")
        .replace("    folder: 会員ランク\n", ""),
        encoding="utf-8",
    )
    changed = cli("apply", str(path), "--yes")
    bad = path.write_text(
        TAGS.format(slug=shop.slug).replace("purple", "#800080"), encoding="utf-8"
    )
    refused = cli("apply", str(path), "--yes")

    assert applied.exit_code == 0, applied.output
    assert "create tags 'vip'" in applied.output and "applied 2 change(s)" in applied.output
    assert "nothing to change" in again.output
    assert "update tags 'vip'" in changed.output and "unchanged tags '新規'" in changed.output
    assert bad and refused.exit_code == 1 and "tags[0].colour" in " ".join(refused.output.split())
    with db.session_scope() as session:
        stored = {t.name: (t.colour, t.folder) for t in session.scalars(select(Tag))}
    assert stored == {"vip": ("red", None), "新規": ("gray", None)}
