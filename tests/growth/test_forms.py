"""Forms end to end over HTTP: a form made through the admin API, its page served, a friend
known by their LIFF ID token answering it; the answers checked whole, saved, mapped to the
friend's field, member attribute and tags, the actions run, the results and CSV add up."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import httpx
import pytest

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from crm import fields
from idlink import friends
from idlink.models import Friend, Member
from inbox import conversations, library
from inbox.schemas import MarkIn
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, add_link, add_member, admin_api
from tests.factories import ChannelSetup, make_shop
from tests.growth.forms_support import (
    GOOD,
    SALON,
    define_text_field,
    field_of,
    make_form,
    open_form,
    submissions_of,
    submit,
    token_of,
)
from tests.growth.support import give_liff_app
from tests.idlink.support import befriend, tags_of
from tests.waiting import wait_for


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    define_text_field(db, shop.id, "kana", "フリガナ")
    return admin_api(db, hub_url, shop)


def test_a_friend_answers_and_the_answers_set_the_field_attribute_and_tags_and_thank_them(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    api: AdminApi,
) -> None:
    form = make_form(api, "来店前")
    page = httpx.get(form["url"], timeout=10, headers={"accept-language": "en-US"})
    assert page.status_code == 200
    assert 'lang="en"' in page.text and "About you" in page.text and "liff.init" in page.text
    assert 'pattern="[ァ-ヶー・　 ]+"' in page.text  # the server's rule, on the page
    assert "poster" not in page.text  # a hidden item is filled in by the server
    person = befriend(db, line_sandbox, channel, "Hanako")
    member_id = add_member(db, shop.id, "M-1")
    add_link(db, shop.id, person.friend_id, member_id)
    token = token_of(line_sandbox, channel, person.user_id)

    opened = open_form(hub_url, form["code"], token)
    sent = submit(hub_url, form["code"], token, GOOD)

    assert opened.status_code == 200 and opened.json()["state"] == "open"
    assert sent.status_code == 200, sent.text
    assert sent.json()["thanks"] == "ありがとうございました。ご来店をお待ちしています。"
    assert field_of(db, shop.id, person.friend_id, "kana") == "サトウ ハナコ"
    with db.session_scope() as session:
        assert session.get_one(Member, member_id).attributes == {"postcode": "150-0001"}
    assert tags_of(db, person.friend_id) >= {
        "ロング",
        "トリートメント案内",
        "カラー",
        "アンケート回答",
    }
    assert "ショート" not in tags_of(db, person.friend_id)
    [saved] = submissions_of(db, person.friend_id)
    assert '"source": "poster"' in saved.answers and '"zip": "150-0001"' in saved.answers
    assert all("not done" not in line for line in saved.outcome), saved.outcome
    thanks = wait_for(lambda: line_sandbox.state.inbox(person.user_id), what="the message")
    assert thanks[-1].message["text"] == "アンケートへのご回答ありがとうございます。"


def test_bad_answers_are_refused_whole_with_each_fields_message_in_the_friends_language(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "来店前")
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)
    bad = {**GOOD, "kana": "sato", "zip": "150", "visits": "100", "menu": ["シャンプー"]}
    bad.pop("terms")

    in_english = submit(hub_url, form["code"], token, bad, language="en")
    in_japanese = submit(hub_url, form["code"], token, {**bad, "length": ""})

    assert in_english.status_code == 422
    assert in_english.json()["fields"] == {
        "kana": "Please write in katakana.",
        "zip": "Please enter a 7-digit postcode (e.g. 150-0001).",
        "menu": "Please choose one of the options.",
        "visits": "Please enter a value from 0 to 99.",
        "terms": "Your consent is needed.",
    }
    assert in_japanese.status_code == 422
    assert in_japanese.json()["fields"]["length"] == "選んでください。"
    assert in_japanese.json()["fields"]["kana"] == "全角カタカナで入力してください。"
    assert submissions_of(db, person.friend_id) == []
    assert tags_of(db, person.friend_id) == set()


def test_an_editable_form_shows_the_latest_answers_and_keeps_every_submission(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "来店前")
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)
    assert submit(hub_url, form["code"], token, GOOD).status_code == 200
    assert submit(hub_url, form["code"], token, {**GOOD, "length": "ショート"}).status_code == 200

    opened = open_form(hub_url, form["code"], token).json()

    assert opened["state"] == "open" and opened["answers"]["length"] == "ショート"
    assert len(submissions_of(db, person.friend_id)) == 2
    results = api.get(f"/forms/{form['id']}/results").json()
    assert results["funnel"] == {"opened": 1, "submitted": 1, "submissions": 2}
    length = next(q for q in results["questions"] if q["key"] == "length")
    assert {c["label"]: c["count"] for c in length["choices"]} == {"ショート": 1, "ロング": 0}
    listed = api.get(f"/forms/{form['id']}/submissions").json()["items"]
    assert [s["latest"] for s in listed] == [True, False]
    csv = api.get(f"/forms/{form['id']}/submissions.csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("submission_id,friend_id,submitted_at,latest,kana,email,zip")
    assert len(lines) == 3 and ",yes," in lines[1] and "ショート" in lines[1]


def test_a_form_answered_once_refuses_a_second_answer_and_says_so_on_opening(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "一度きり", policy="once")
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)
    assert submit(hub_url, form["code"], token, GOOD).status_code == 200

    again = submit(hub_url, form["code"], token, GOOD, language="en")
    opened = open_form(hub_url, form["code"], token, language="en").json()

    assert again.status_code == 409
    assert again.json()["detail"] == "You have already answered this form. Thank you."
    assert opened["state"] == "answered" and opened["answers"] == {}
    assert len(submissions_of(db, person.friend_id)) == 1


def test_a_form_takes_answers_only_between_its_dates(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    later = (utcnow() + timedelta(days=1)).isoformat()
    earlier = (utcnow() - timedelta(days=1)).isoformat()
    early = make_form(api, "まだ", opens_at=later)
    late = make_form(api, "終了", closes_at=earlier)
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)

    assert open_form(hub_url, early["code"], token).json()["state"] == "not_yet"
    assert submit(hub_url, early["code"], token, GOOD).status_code == 409
    closed = submit(hub_url, late["code"], token, GOOD)
    assert (
        closed.status_code == 409
        and closed.json()["detail"] == "このフォームの受付は終了しました。"
    )
    assert submissions_of(db, person.friend_id) == []


def test_a_friend_sending_a_form_again_and_again_is_slowed_down(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "何度でも", policy="many")
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)

    codes = [submit(hub_url, form["code"], token, GOOD).status_code for _ in range(6)]

    assert codes == [200, 200, 200, 200, 200, 429]
    assert len(submissions_of(db, person.friend_id)) == 5


def test_only_a_friend_with_a_token_of_the_forms_account_can_answer(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "来店前")
    stranger = line_sandbox.state.add_user(display_name="Not a friend")
    person = befriend(db, line_sandbox, channel)
    foreign = line_sandbox.state.issue_id_token(person.user_id, "1999999999")

    not_friend = submit(
        hub_url, form["code"], token_of(line_sandbox, channel, stranger.user_id), GOOD
    )
    refused = submit(hub_url, form["code"], foreign, GOOD)

    assert not_friend.status_code == 403
    assert not_friend.json()["detail"].startswith("このフォームに答えるには")
    stranger_token = token_of(line_sandbox, channel, stranger.user_id)
    assert open_form(hub_url, form["code"], stranger_token).json()["state"] == "not_a_friend"
    assert refused.status_code == 401
    assert submissions_of(db, person.friend_id) == []


def test_a_form_that_breaks_its_own_rules_is_refused_with_the_reason(api: AdminApi) -> None:
    doubled = [
        {"kind": "short_text", "key": "name", "label": "A"},
        {"kind": "short_text", "key": "name", "label": "B"},
    ]
    one_choice = [{"kind": "single", "key": "x", "label": "X", "choices": [{"label": "a"}]}]
    bad_default = [{"kind": "postcode", "key": "zip", "label": "Z", "default": "12"}]

    for questions, reason in [
        (doubled, "two questions share the key 'name'"),
        (one_choice, "needs two or more different choices"),
        (bad_default, "the default breaks its own rules"),
    ]:
        response = api.post("/forms", {"name": "x", "title": "x", "questions": questions})
        assert response.status_code == 422, response.text
        assert reason in response.text


def test_erasing_a_friend_deletes_their_answers_and_keeps_the_forms_funnel(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    form = make_form(api, "来店前")
    person = befriend(db, line_sandbox, channel)
    token = token_of(line_sandbox, channel, person.user_id)
    open_form(hub_url, form["code"], token)
    assert submit(hub_url, form["code"], token, GOOD).status_code == 200
    exported = api.get(f"/friends/{person.friend_id}/export")
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert "hanako@example.jp" in archive.read("form_submissions.csv").decode()

    erased = api.post(f"/friends/{person.friend_id}/erase", {})

    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["form_submissions"] == 1
    assert submissions_of(db, person.friend_id) == []
    funnel = api.get(f"/forms/{form['id']}/results").json()["funnel"]
    assert funnel == {"opened": 1, "submitted": 0, "submissions": 0}


def test_the_forms_actions_untag_mark_and_note_what_could_not_run(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    api: AdminApi,
) -> None:
    with db.session_scope() as session:
        library.add_mark(session, shop_id=shop.id, body=MarkIn(name="要確認"), actor="test")
    actions = [
        {"kind": "untag", "target": "未回答"},
        {"kind": "mark", "target": "要確認"},
        {"kind": "tag", "target": "アンケート回答"},
    ]
    form = make_form(api, "来店前", actions=actions)
    person = befriend(db, line_sandbox, channel)
    with db.session_scope() as session:
        friend = session.get_one(Friend, person.friend_id)
        friends.add_tag(session, friend=friend, name="未回答", source="test")
        # The field the kana question sets is deleted after the form was made.
        fields.delete_definition(session, shop_id=shop.id, key="kana", actor="test")
    token = token_of(line_sandbox, channel, person.user_id)

    assert submit(hub_url, form["code"], token, GOOD).status_code == 200

    [saved] = submissions_of(db, person.friend_id)
    assert "untag 未回答: removed" in saved.outcome
    assert "mark 要確認: marked" in saved.outcome
    assert any(line.startswith("field kana: not done:") for line in saved.outcome)
    assert "tag アンケート回答: added" in saved.outcome
    assert "未回答" not in tags_of(db, person.friend_id)
    with db.session_scope() as session:
        conversation = conversations.conversation_of(session, session.get_one(Friend, friend.id))
        assert conversation.mark_id == library.mark_id(session, shop.id, "要確認")


def test_a_form_naming_a_field_sequence_or_mark_the_shop_lacks_is_refused(
    api: AdminApi,
) -> None:
    for spec, missing in [
        (
            {"questions": [{"kind": "email", "key": "e", "label": "E", "field": "nope"}]},
            "custom field",
        ),
        ({"actions": [{"kind": "sequence", "target": "nope"}]}, "sequence"),
        ({"actions": [{"kind": "mark", "target": "nope"}]}, "inbox mark"),
    ]:
        response = api.post("/forms", {"name": "x", **SALON, **spec})
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "UnknownReference"
        assert f"no {missing} 'nope'" in response.json()["detail"]


def test_another_shops_token_sees_none_of_the_forms(
    db: Database, hub_url: str, api: AdminApi
) -> None:
    form = make_form(api, "来店前")
    other = admin_api(db, hub_url, make_shop(db))

    assert other.get(f"/forms/{form['id']}").status_code == 404
    assert other.get(f"/forms/{form['id']}/submissions.csv").status_code == 404
    assert other.get("/forms").json() == {"items": []}
