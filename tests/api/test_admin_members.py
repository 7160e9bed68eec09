"""Members through the admin API: normalised, encrypted at rest, found by strong keys, audited."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from core.crypto import verify_secret
from core.db import Database
from core.tenancy import Shop
from idlink.members import (
    InvalidMemberData,
    normalize_birth_date,
    normalize_email,
    normalize_member_number,
    normalize_phone,
)
from tests.api.admin_support import AdminApi, add_friend, add_link, add_member, admin_api
from tests.factories import ChannelSetup, make_shop


def fullwidth(ascii_text: str) -> str:
    """The text as a Japanese IME types it in full-width mode ."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in ascii_text)


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("090-1234-5678", "+819012345678"),
        ("09012345678", "+819012345678"),
        (fullwidth("090-1234-5678"), "+819012345678"),
        ("090ー1234ー5678", "+819012345678"),
        ("03-1234-5678", "+81312345678"),
        ("(03) 1234 5678", "+81312345678"),
        ("0120-123-456", "+81120123456"),
        ("+81 90 1234 5678", "+819012345678"),
        ("+81 (0)90-1234-5678", "+819012345678"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_numbers_are_stored_in_e164(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("9012345678", "leading 0"),
        ("090-1234", "10 or 11 digits"),
        ("090-1234-56789", "10 or 11 digits"),
        ("+81 90 1234 56789", "10 or 11 digits"),
        ("+1 555", "international"),
        ("090-abcd-5678", "not digits"),
        ("", "leading 0"),
    ],
)
def test_an_unusable_phone_number_is_refused_with_the_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidMemberData, match=reason) as raised:
        normalize_phone(typed)
    assert raised.value.field_name == "phone"


def test_emails_member_numbers_and_birth_dates_are_normalised() -> None:
    assert normalize_email("  Hanako.Sato@Example.JP ") == "hanako.sato@example.jp"
    assert normalize_member_number(fullwidth(" A-123 ")) == "A-123"
    assert normalize_birth_date("1990/4/1") == "1990-04-01"
    assert normalize_birth_date(date(1990, 4, 1)) == "1990-04-01"
    for bad_email in ("hanako", "hanako@", "@example.jp", "a b@example.jp", "a@b"):
        with pytest.raises(InvalidMemberData, match="not an email"):
            normalize_email(bad_email)
    for bad_date in ("01/04/1990", "1990-02-30", "1850-01-01"):
        with pytest.raises(InvalidMemberData, match="birth_date"):
            normalize_birth_date(bad_date)
    with pytest.raises(InvalidMemberData, match="plausible"):
        normalize_birth_date("2030-01-01", today=date(2026, 11, 22))


def test_creating_a_member_stores_normalised_values_and_never_returns_the_pin(
    admin: AdminApi,
) -> None:
    response = admin.post(
        "/members",
        {
            "member_number": " M-0001 ",
            "name": "佐藤  花子",
            "email": " Hanako@Example.JP",
            "phone": "090-1234-5678",
            "birth_date": "1990-04-01",
            "pin": "4321",
            "attributes": {"rank": "gold"},
        },
    )

    assert response.status_code == 201
    member = response.json()
    assert member["member_number"] == "M-0001"
    assert member["name"] == "佐藤 花子"
    assert member["email"] == "hanako@example.jp"
    assert member["phone"] == "+819012345678"
    assert member["birth_date"] == "1990-04-01"
    assert member["has_pin"] is True
    assert member["attributes"] == {"rank": "gold"}
    assert member["linked"] is False
    assert "4321" not in response.text
    assert "pin" not in member and "pin_hash" not in member
    assert admin.get(f"/members/{member['id']}").json() == member


def test_member_personal_data_is_encrypted_in_the_database(db: Database, admin: AdminApi) -> None:
    member = admin.post(
        "/members",
        {
            "member_number": "M-0002",
            "name": "Hanako Sato",
            "email": "hanako@example.jp",
            "phone": "090-1234-5678",
            "birth_date": "1990-04-01",
            "pin": "4321",
        },
    ).json()

    with db.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT name, email, phone, birth_date, pin_hash, email_index, phone_index "
                "FROM members WHERE id = :id"
            ),
            {"id": member["id"]},
        ).one()
    raw = " ".join(str(value) for value in row)
    for plaintext in ("Hanako", "hanako@example.jp", "9012345678", "1990-04-01", "4321"):
        assert plaintext not in raw
    assert verify_secret("4321", row.pin_hash)
    assert len(row.email_index) == len(row.phone_index) == 64


def test_a_member_number_can_be_used_once_per_shop(
    db: Database, hub_url: str, admin: AdminApi
) -> None:
    assert admin.post("/members", {"member_number": "M-0003"}).status_code == 201

    again = admin.post("/members", {"member_number": fullwidth("M-0003")})

    assert again.status_code == 409
    assert again.json()["error"] == "MemberNumberTaken"
    assert "PATCH /members/" in again.json()["detail"]
    other_shop = admin_api(db, hub_url, make_shop(db))
    assert other_shop.post("/members", {"member_number": "M-0003"}).status_code == 201


def test_an_unusable_value_is_refused_with_the_field_and_reason(admin: AdminApi) -> None:
    response = admin.post("/members", {"member_number": "M-0004", "phone": "90-1234-5678"})

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidMemberData"
    assert response.json()["detail"].startswith("phone: '90-1234-5678' has neither a leading 0")
    assert admin.get("/members", member_number="M-0004").json()["items"] == []


def test_a_malformed_request_gets_the_common_error_body(admin: AdminApi) -> None:
    response = admin.post("/members", {"name": "no number", "colour": "blue"})

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationFailed"
    assert {d["field"] for d in body["detail"]} == {"body.member_number", "body.colour"}


def test_members_are_found_by_number_email_or_phone_however_they_are_typed(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    hanako = add_member(db, shop.id, "M-0005", email="hanako@example.jp", phone="09012345678")
    add_member(db, shop.id, "M-0006", email="taro@example.jp", phone="080-1111-2222")

    def found(**params: str) -> list[int]:
        return [m["id"] for m in admin.get("/members", **params).json()["items"]]

    assert found(email="  HANAKO@example.JP") == [hanako]
    assert found(phone="+81 90-1234-5678") == [hanako]
    assert found(phone="090 1234 5678") == [hanako]
    assert found(member_number=fullwidth("M-0005")) == [hanako]
    assert found(email="nobody@example.jp") == []
    bad = admin.get("/members", phone="12345")
    assert bad.status_code == 422
    assert bad.json()["error"] == "InvalidMemberData"


def test_an_update_changes_the_given_fields_and_null_clears_one(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    member_id = add_member(
        db, shop.id, "M-0007", name="Taro", email="taro@example.jp", phone="080-1111-2222"
    )

    response = admin.patch(f"/members/{member_id}", {"phone": "070-3333-4444", "email": None})

    assert response.status_code == 200
    member = response.json()
    assert member["name"] == "Taro"
    assert member["phone"] == "+817033334444"
    assert member["email"] is None
    assert admin.get("/members", phone="080-1111-2222").json()["items"] == []
    assert [m["id"] for m in admin.get("/members", phone="07033334444").json()["items"]] == [
        member_id
    ]
    assert admin.get("/members", email="taro@example.jp").json()["items"] == []


def test_attributes_are_merged_and_a_null_removes_a_key(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    member_id = add_member(db, shop.id, "M-0008", attributes={"rank": "gold", "store": "ginza"})

    response = admin.patch(
        f"/members/{member_id}", {"attributes": {"rank": "platinum", "store": None, "dm": True}}
    )

    assert response.json()["attributes"] == {"rank": "platinum", "dm": True}


def test_member_changes_are_audited_by_token_without_personal_data(
    db: Database, hub_url: str, shop: Shop
) -> None:
    admin = admin_api(db, hub_url, shop, name="front-desk")
    member_id = admin.post("/members", {"member_number": "M-0009", "name": "Jiro"}).json()["id"]
    admin.patch(f"/members/{member_id}", {"phone": "090-5555-6666", "pin": "9999"})
    admin.patch(f"/members/{member_id}", {"pin": "9999"})

    entries = admin.get("/audit", subject_type="member", subject_id=str(member_id)).json()["items"]

    assert [(e["action"], e["actor"], e["detail"]["fields"]) for e in entries] == [
        ("member.updated", "token:front-desk", ["phone", "pin"]),
        ("member.created", "token:front-desk", ["name"]),
    ]
    assert "5555" not in str(entries) and "Jiro" not in str(entries)


def test_members_can_be_filtered_by_whether_they_are_linked(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    linked_id = add_member(db, shop.id, "M-0010")
    unlinked_id = add_member(db, shop.id, "M-0011")
    friend_id = add_friend(db, channel.channel_pk, "U" + "2" * 32)
    add_link(db, shop.id, friend_id, linked_id)

    linked = admin.get("/members", linked="true").json()["items"]
    assert [m["id"] for m in linked] == [linked_id]
    assert linked[0]["link"]["line_user_id"] == "U" + "2" * 32
    assert [m["id"] for m in admin.get("/members", linked="false").json()["items"]] == [unlinked_id]


def test_pages_walk_every_member_once_newest_first(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    ids = [add_member(db, shop.id, f"P-{n:03}") for n in range(7)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/members", **params).json()
        seen += [m["id"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_a_page_larger_than_the_maximum_or_a_forged_cursor_is_refused(admin: AdminApi) -> None:
    too_many = admin.get("/members", limit="1000")
    forged = admin.get("/members", cursor="not-a-cursor")

    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "query.limit"
    assert forged.status_code == 400
    assert forged.json()["error"] == "InvalidCursor"
