"""Bulk actions over a filtered friends list through the admin API: tags, owner, CSV, segment."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy import func, insert, select

from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from crm.models import FriendOwner
from idlink.models import Friend, FriendStatus, FriendTag, FriendTagEvent, Tag
from staff.models import Role
from tests.api.admin_support import AdminApi, add_friend, admin_api
from tests.console.support import add_staff
from tests.factories import ChannelSetup
from tests.waiting import wait_for


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


def user_id(n: int) -> str:
    return f"U{n:032x}"


def many_friends(db: Database, channel: ChannelSetup, count: int) -> None:
    rows = [
        {
            "shop_id": channel.shop_id,
            "channel_id": channel.channel_pk,
            "line_user_id": user_id(10_000 + n),
            "status": FriendStatus.FOLLOWED,
            "created_at": utcnow(),
        }
        for n in range(count)
    ]
    with db.session_scope() as session:
        session.execute(insert(Friend), rows)


def tagged(db: Database, name: str) -> set[int]:
    with db.session_scope() as session:
        return set(
            session.scalars(
                select(FriendTag.friend_id)
                .join(Tag, Tag.id == FriendTag.tag_id)
                .where(Tag.name == name)
            )
        )


def audits(db: Database, action: str) -> list[AuditLog]:
    with db.session_scope() as session:
        found = session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        session.expunge_all()
        return list(found)


def test_a_small_bulk_tagging_is_done_at_once_and_audited_once(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    vip = add_friend(db, channel.channel_pk, user_id(1), tags=("vip",))
    plain = [add_friend(db, channel.channel_pk, user_id(n)) for n in (2, 3)]
    blocked = add_friend(db, channel.channel_pk, user_id(4), blocked=True)

    added = admin.post(
        "/friends/bulk",
        {"action": "add_tag", "tag": "春の案内", "filters": {"status": "followed"}},
    )
    removed = admin.post(
        "/friends/bulk",
        {"action": "remove_tag", "tag": "春の案内", "filters": {"tags_any": ["vip"]}},
    )

    assert added.status_code == 200, added.text
    assert added.json() | {"id": 0, "created_at": 0, "finished_at": 0} == {
        "id": 0,
        "action": "add_tag",
        "state": "done",
        "total": 3,
        "done": 3,
        "changed": 3,
        "filters": {"status": "followed"},
        "created_at": 0,
        "finished_at": 0,
        "error": None,
    }
    assert removed.json()["changed"] == 1
    assert tagged(db, "春の案内") == set(plain) and blocked not in tagged(db, "春の案内")
    entries = audits(db, "friends.bulk_add_tag")
    assert len(entries) == 1 and entries[0].actor == "token:staff"
    assert entries[0].detail["friends"] == 3 and entries[0].detail["tag"] == "春の案内"
    [created] = audits(db, "tag.created")
    assert created.actor == "token:staff" and created.detail["tag"] == "春の案内"
    assert vip in tagged(db, "vip")
    with db.session_scope() as session:
        history = session.execute(
            select(FriendTagEvent.friend_id, FriendTagEvent.added, FriendTagEvent.source).where(
                FriendTagEvent.tag_name == "春の案内"
            )
        ).all()
    assert sorted(history) == sorted(
        [(f, True, "token:staff") for f in (vip, *plain)] + [(vip, False, "token:staff")]
    )


def test_bulk_owner_sets_and_clears_and_refuses_a_stranger(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    friends = [add_friend(db, channel.channel_pk, user_id(n), tags=("vip",)) for n in (1, 2)]
    add_staff(db, shop, "ken@example.jp", Role.OPERATOR)
    filters = {"tags_all": ["vip"]}

    assigned = admin.post(
        "/friends/bulk", {"action": "set_owner", "owner": "Ken@example.jp", "filters": filters}
    )
    listed = admin.get("/friends", owner="ken@example.jp")
    stranger = admin.post(
        "/friends/bulk", {"action": "set_owner", "owner": "x@example.jp", "filters": filters}
    )
    cleared = admin.post(
        "/friends/bulk", {"action": "set_owner", "owner": None, "filters": filters}
    )
    nothing = admin.post(
        "/friends/bulk", {"action": "add_tag", "tag": "a", "filters": {"tags_all": ["none-such"]}}
    )

    assert assigned.json()["changed"] == 2
    assert sorted(item["id"] for item in listed.json()["items"]) == friends
    assert stranger.status_code == 400 and stranger.json()["error"] == "NotShopStaff"
    assert cleared.json()["changed"] == 2
    assert nothing.status_code == 400 and nothing.json()["error"] == "NothingToDo"
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(FriendOwner)) == 0


def test_over_a_thousand_friends_the_tagging_runs_as_a_job_whose_progress_can_be_polled(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    many_friends(db, channel, 1_500)

    started = admin.post("/friends/bulk", {"action": "add_tag", "tag": "秋"})
    job_url = f"/friends/bulk/{started.json()['id']}"
    finished = wait_for(
        lambda: (r := admin.get(job_url).json())["state"] == "done" and r,
        timeout=30,
        what="the bulk job to finish",
    )

    assert started.status_code == 202 and started.json()["state"] == "running"
    assert finished["done"] == 1_500 and finished["changed"] == 1_500
    assert len(tagged(db, "秋")) == 1_500
    assert len(audits(db, "friends.bulk_add_tag")) == 1
    assert admin.get("/friends/bulk/999999").status_code == 404


def test_the_csv_export_opens_in_excel_and_runs_no_formula(
    db: Database, hub_url: str, channel: ChannelSetup, admin: AdminApi
) -> None:
    add_friend(
        db,
        channel.channel_pk,
        user_id(1),
        display_name='=HYPERLINK("http://x","お得")',
        tags=("vip",),
    )
    add_friend(db, channel.channel_pk, user_id(2), display_name="佐藤 花子")

    response = httpx.get(
        admin.base_url + "/friends/export.csv",
        params={"tags_any": "vip"},
        headers=admin.headers,
        timeout=10,
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["display_name"] for row in rows] == ['\'=HYPERLINK("http://x","お得")']
    assert rows[0]["tags"] == "vip" and rows[0]["line_user_id"] == user_id(1)
    assert len(audits(db, "friends.exported")) == 1


def test_a_filter_saved_as_a_segment_selects_the_same_friends(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    add_friend(db, channel.channel_pk, user_id(1), tags=("vip", "常連"))
    add_friend(db, channel.channel_pk, user_id(2), tags=("vip",))
    add_friend(db, channel.channel_pk, user_id(3), tags=("常連",), blocked=True)
    filters = {"status": "followed", "tags_any": ["vip", "常連"], "tags_none": ["常連"]}

    saved = admin.post("/friends/segment", {"name": "vip-only", "filters": filters})
    preview = admin.get("/segments/vip-only/preview", channel=channel.channel_id)
    refused = admin.post("/friends/segment", {"name": "by-search", "filters": {"q": "花子"}})
    empty = admin.post("/friends/segment", {"name": "all", "filters": {}})

    assert saved.status_code == 201, saved.text
    listed = admin.get(
        "/friends/count", status="followed", tags_any=["vip", "常連"], tags_none=["常連"]
    )
    assert preview.json()["count"] == listed.json()["count"] == 1
    assert refused.status_code == 422 and "q" in refused.json()["detail"]
    assert empty.status_code == 422


def test_a_tag_filter_that_is_not_a_list_of_names_is_a_422_not_a_500(admin: AdminApi) -> None:
    answer = admin.post(
        "/friends/bulk", {"action": "add_tag", "tag": "a", "filters": {"tags_any": [["vip"], " "]}}
    )

    assert answer.status_code == 422
    assert answer.json()["error"] == "ValidationFailed"


def test_a_bulk_tag_name_the_tags_page_would_refuse_is_a_422(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    add_friend(db, channel.channel_pk, user_id(1))

    answer = admin.post("/friends/bulk", {"action": "add_tag", "tag": "秋\x7f"})

    assert answer.status_code == 422
    assert tagged(db, "秋\x7f") == set() and audits(db, "tag.created") == []


def test_a_field_is_set_on_the_filtered_friends_checked_first_and_audited_once(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    vips = [add_friend(db, channel.channel_pk, user_id(n), tags=("vip",)) for n in (1, 2)]
    other = add_friend(db, channel.channel_pk, user_id(3))
    defined = admin.put(
        "/fields/rank",
        {"key": "rank", "label": "ランク", "type": "choice", "choices": ["金", "銀"]},
    )
    vip_only = {"tags_all": ["vip"]}

    wrong = admin.post(
        "/friends/bulk",
        {"action": "set_field", "field": "rank", "value": "銅", "filters": vip_only},
    )
    set_ = admin.post(
        "/friends/bulk",
        {"action": "set_field", "field": "rank", "value": "金", "filters": vip_only},
    )
    again = admin.post(
        "/friends/bulk",
        {"action": "set_field", "field": "rank", "value": "金", "filters": {}},
    )

    def rank(friend_id: int) -> str | None:
        chart = admin.get(f"/friends/{friend_id}/chart").json()
        (field,) = [f for f in chart["fields"] if f["key"] == "rank"]
        return field["shown"] or None

    assert defined.status_code == 200, defined.text
    assert wrong.status_code == 400 and wrong.json()["error"] == "InvalidFieldValue"
    assert set_.json()["changed"] == 2
    assert again.json()["changed"] == 1  # the two VIPs had it already
    assert [rank(f) for f in (*vips, other)] == ["金", "金", "金"]
    (entry,) = audits(db, "friends.bulk_set_field")[:1]
    assert (entry.detail["field"], entry.detail["value"], entry.detail["friends"]) == (
        "rank",
        "金",
        2,
    )
    assert len(audits(db, "friends.bulk_set_field")) == 2  # one per action, not per friend

    cleared = admin.post(
        "/friends/bulk", {"action": "set_field", "field": "rank", "value": "", "filters": {}}
    )
    assert cleared.json()["changed"] == 3
    assert [rank(f) for f in (*vips, other)] == [None, None, None]
