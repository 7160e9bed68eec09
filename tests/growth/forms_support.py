"""Forms as a test drives them: a form made through the admin API, and what its LIFF page
sends once LINE (the sandbox) identified the friend."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from core.db import Database
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from growth.forms.models import FormSubmission
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi
from tests.factories import ChannelSetup

SALON = {
    "title": "ご来店前アンケート",
    "description": "ご予約の前にお答えください。",
    "policy": "editable",
    "questions": [
        {"kind": "heading", "label": "お客さまについて", "label_en": "About you"},
        {
            "kind": "katakana",
            "key": "kana",
            "label": "フリガナ",
            "required": True,
            "max_length": 20,
            "field": "kana",
        },
        {"kind": "email", "key": "email", "label": "メール", "label_en": "Email"},
        {"kind": "postcode", "key": "zip", "label": "郵便番号", "attribute": "postcode"},
        {
            "kind": "single",
            "key": "length",
            "label": "髪の長さ",
            "label_en": "Hair length",
            "required": True,
            "choices": [
                {"label": "ショート", "tags": ["ショート"]},
                {"label": "ロング", "tags": ["ロング", "トリートメント案内"]},
            ],
        },
        {
            "kind": "multiple",
            "key": "menu",
            "label": "ご希望のメニュー",
            "choices": [
                {"label": "カット"},
                {"label": "カラー", "tags": ["カラー"]},
                {"label": "パーマ"},
            ],
        },
        {"kind": "number", "key": "visits", "label": "来店回数", "minimum": 0, "maximum": 99},
        {"kind": "consent", "key": "terms", "label": "利用規約に同意します", "required": True},
        {
            "kind": "short_text",
            "key": "source",
            "label": "経路",
            "hidden": True,
            "default": "poster",
        },
    ],
    "actions": [
        {"kind": "tag", "target": "アンケート回答"},
        {"kind": "message", "target": "アンケートへのご回答ありがとうございます。"},
    ],
    "thanks": "ありがとうございました。ご来店をお待ちしています。",
}
GOOD = {
    "kana": "サトウ ハナコ",
    "email": "hanako@example.jp",
    "zip": "1500001",
    "length": "ロング",
    "menu": ["カラー", "カット"],
    "visits": "3",
    "terms": "yes",
}


def define_text_field(database: Database, shop_id: int, key: str, label: str) -> None:
    with database.session_scope() as session:
        fields.define(
            session,
            shop_id=shop_id,
            spec=FieldDefinitionIn(key=key, label=label, type=FieldType.TEXT),
            actor="test",
        )


def make_form(api: AdminApi, name: str, **spec: Any) -> dict[str, Any]:
    response = api.post("/forms", {"name": name, **SALON, **spec})
    assert response.status_code == 201, response.text
    return response.json()


def token_of(sandbox: SandboxServer, channel: ChannelSetup, user_id: str) -> str:
    return sandbox.state.issue_id_token(user_id, channel.login_channel_id)


def open_form(hub_url: str, code: str, token: str, language: str = "ja") -> httpx.Response:
    """What the page sends once LIFF gave it the ID token."""
    return httpx.post(
        f"{hub_url}/api/forms/{code}/open",
        json={"id_token": token, "language": language},
        timeout=10,
    )


def submit(
    hub_url: str, code: str, token: str, answers: dict[str, Any], language: str = "ja"
) -> httpx.Response:
    return httpx.post(
        f"{hub_url}/api/forms/{code}/submit",
        json={"id_token": token, "language": language, "answers": answers},
        timeout=10,
    )


def submissions_of(database: Database, friend_id: int) -> list[FormSubmission]:
    with database.session_scope() as session:
        return list(
            session.scalars(
                select(FormSubmission)
                .where(FormSubmission.friend_id == friend_id)
                .order_by(FormSubmission.id)
            )
        )


def field_of(database: Database, shop_id: int, friend_id: int, key: str) -> object:
    with database.session_scope() as session:
        found = fields.fields_of(session, shop_id, friend_id)
        return next((f.value for f in found if f.definition.key == key), None)
