"""A friend's answer in a LIFF form fires the tag rules on that form's questions, and a tag
renamed later is renamed in the form's choices and actions too."""

from __future__ import annotations

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup
from tests.growth.forms_support import GOOD, define_text_field, make_form, submit, token_of
from tests.growth.support import give_liff_app
from tests.idlink.support import befriend, tags_of


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    define_text_field(db, shop.id, "kana", "フリガナ")
    return admin_api(db, hub_url, shop)


def _rule(name: str, question: str, choice: str | None, tag: str) -> dict[str, object]:
    trigger = {"event": "form_answer", "form": "来店前", "question": question}
    return {"name": name, "trigger": trigger | ({"choice": choice} if choice else {}), "add": [tag]}


def test_an_answer_sent_from_the_form_page_fires_the_rules_on_its_questions(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    api: AdminApi,
) -> None:
    form = make_form(api, "来店前")
    for rule in (
        _rule("colour wanted", "menu", "カラー", "カラー希望"),
        _rule("perm wanted", "menu", "パーマ", "パーマ希望"),
        _rule("gave an email", "email", None, "メールあり"),
    ):
        assert api.post("/tag-rules", rule).status_code == 201
    person = befriend(db, line_sandbox, channel, "Hanako")
    token = token_of(line_sandbox, channel, person.user_id)

    sent = submit(hub_url, form["code"], token, GOOD)

    assert sent.status_code == 200, sent.text
    tags = tags_of(db, person.friend_id)
    assert {"カラー希望", "メールあり"} <= tags
    assert "パーマ希望" not in tags  # not chosen


def test_a_renamed_tag_is_renamed_in_the_forms_choices_and_actions(api: AdminApi) -> None:
    form = make_form(api, "来店前")
    tags = {t["name"]: t["id"] for t in api.get("/tags").json()["items"]}
    answered = (
        tags.get("アンケート回答") or api.post("/tags", {"name": "アンケート回答"}).json()["id"]
    )
    long_hair = tags.get("ロング") or api.post("/tags", {"name": "ロング"}).json()["id"]

    assert api.patch(f"/tags/{answered}", {"name": "回答済み"}).status_code == 200
    assert api.patch(f"/tags/{long_hair}", {"name": "ロングヘア"}).status_code == 200

    saved = api.get(f"/forms/{form['id']}").json()
    length = next(q for q in saved["questions"] if q.get("key") == "length")
    assert [c["tags"] for c in length["choices"]] == [
        ["ショート"],
        ["ロングヘア", "トリートメント案内"],
    ]
    assert {"kind": "tag", "target": "回答済み"} in [
        {"kind": a["kind"], "target": a["target"]} for a in saved["actions"]
    ]
