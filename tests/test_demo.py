"""`tsunagu demo` plays its users end to end: follows, a LIFF link, an account link, a block."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from config import Settings
from core.serving import free_port
from tests.conftest import TEST_SECRET_KEY
from tests.console.support import Browser
from tests.waiting import wait_for
from tsunagu import demo, demo_inbox, demo_survey


@pytest.fixture(scope="module")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.Demo]:
    """One demo run; the tests only read what it did."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("demo"),
        secret_key=TEST_SECRET_KEY,
        log_format="text",
    )
    running = demo.start(settings, port=free_port("127.0.0.1"), sandbox_port=free_port("127.0.0.1"))
    yield running
    running.stop()


def test_demo_links_two_friends_two_ways_and_one_blocks(running_demo: demo.Demo) -> None:
    friends = {f["line_user_id"]: f for f in running_demo.admin("/friends")["items"]}
    users = running_demo.users

    assert friends[users["hanako"]]["link"]["member_number"] == "M-1001"
    assert friends[users["ichiro"]]["link"]["member_number"] == "M-1002"
    assert friends[users["misaki"]]["status"] == "blocked"
    assert not friends[users["misaki"]]["linked"]
    methods = {
        link["member_number"]: link["method"] for link in running_demo.admin("/links")["items"]
    }
    assert methods == {"M-1001": "liff", "M-1002": "account_link"}


def test_demo_friend_received_the_account_link_message_on_the_phone(
    running_demo: demo.Demo,
) -> None:
    received = running_demo.sandbox.state.inbox(running_demo.users["ichiro"])
    assert any("/idlink/account-link/" in str(m.message) for m in received)


def test_demo_shows_salesforce_and_reservation_bookings_on_the_linked_friends(
    running_demo: demo.Demo,
) -> None:
    friends = {f["line_user_id"]: f for f in running_demo.admin("/friends")["items"]}
    hanako = friends[running_demo.users["hanako"]]

    bookings = running_demo.admin(f"/bookings?friend_id={hanako['id']}")["items"]

    assert {b["connection"] for b in bookings} == {"salesforce", "salon-booking"}
    assert all(b["member_id"] == hanako["link"]["member_id"] for b in bookings)
    # The reservation system moved the first member's booking from 10:00 to 15:00 Tokyo time.
    (salon,) = [b for b in bookings if b["connection"] == "salon-booking"]
    assert salon["status"] == "confirmed"
    assert salon["start_at"][11:16] == "06:00"


def test_demo_shows_shopify_purchases_on_the_friends_they_belong_to(
    running_demo: demo.Demo,
) -> None:
    friends = {f["line_user_id"]: f for f in running_demo.admin("/friends")["items"]}

    def purchases(user: str) -> list[str]:
        friend_id = friends[running_demo.users[user]]["id"]
        items = running_demo.admin(f"/purchases?friend_id={friend_id}")["items"]
        return sorted(line["title"] for p in items for line in p["items"])

    # はなこ: by the member-number tag, including the order that came by webhook.
    assert purchases("hanako") == ["Treatment", "シャンプー 300ml"]
    # Ichiro: a guest checkout whose note attributes carry his LINE user id.
    assert purchases("ichiro") == ["Gift card"]


def test_demo_welcomes_every_new_friend_with_the_sequence(running_demo: demo.Demo) -> None:
    for user in ("hanako", "ichiro", "misaki"):
        welcomes = [t for t in running_demo.texts(user) if "友だち追加ありがとうございます" in t]
        assert len(welcomes) == 1, (user, running_demo.texts(user))
    (welcome,) = running_demo.admin("/sequences")["items"]
    # みさき blocked; ゆい, who came by the poster, is welcomed too.
    assert welcome["enrollments"] == {"active": 3, "exited": 1}


def test_demo_poster_brings_a_new_friend_who_is_tagged_and_welcomed_by_the_route(
    running_demo: demo.Demo,
) -> None:
    friends = {f["line_user_id"]: f for f in running_demo.admin("/friends")["items"]}
    yui = friends[running_demo.users["yui"]]

    assert yui["follow_route"] == "station-poster"
    assert "ポスター" in yui["tags"]
    assert any("ポスターを見て" in t for t in running_demo.texts("yui"))
    route = next(r for r in running_demo.admin("/routes")["items"])
    totals = running_demo.admin(f"/routes/{route['id']}/report")["totals"]
    assert (totals["visits"], totals["new_friends"]) == (1, 1)


def test_demo_poster_friend_answers_the_survey_and_it_lands_on_her_chart(
    running_demo: demo.Demo,
) -> None:
    chart = demo_survey.chart_of(running_demo, "yui")
    survey = demo_survey.survey(running_demo)
    submissions = running_demo.admin(f"/forms/{survey['id']}/submissions")["items"]
    results = running_demo.admin(f"/forms/{survey['id']}/results")

    hair = next(f for f in chart["fields"] if f["key"] == "hair")
    assert hair["value"] == "くせ毛"
    # The choices' tags, the form's action and the tag rule on 縮毛矯正.
    assert set(chart["friend"]["tags"]) >= demo_survey.SURVEY_TAGS
    assert "直毛" not in chart["friend"]["tags"]
    assert [s["answers"] for s in submissions] == [demo_survey.ANSWERS]
    assert (results["funnel"]["opened"], results["funnel"]["submitted"]) == (1, 1)


def test_demo_turns_the_webhook_order_into_one_thank_you_on_the_phone(
    running_demo: demo.Demo,
) -> None:
    thanks = [t for t in running_demo.texts("hanako") if "ご購入ありがとうございます" in t]
    assert thanks == ["はなこさん、ご購入ありがとうございます。次回使える10%OFFクーポン: THANKS10"]
    assert not any("ご購入" in t for t in running_demo.texts("ichiro"))  # history thanks nobody
    inbox = running_demo.sandbox.state.inbox(running_demo.users["hanako"])
    units = {m.aggregation_unit for m in inbox if "ご購入" in m.message.get("text", "")}
    assert units == {"thanks_order"}  # the campaign's custom aggregation unit, sent to LINE
    link = next(t for t in running_demo.texts("hanako") if "ヘアケア" in t).split()[-1]
    assert link.startswith(f"{running_demo.hub_url}/r/")


def test_demo_same_day_booking_gets_its_reminder_with_time_service_and_store(
    running_demo: demo.Demo,
) -> None:
    (reminder,) = [t for t in running_demo.texts("ichiro") if t.startswith("本日")]
    assert "Head spa" in reminder and "表参道店" in reminder
    rules = {r["name"]: r for r in running_demo.admin("/reminder-rules")["items"]}
    figures = rules["two-hours-before"]["figures"]
    assert figures["sent"] == 1
    # The other bookings' reminders wait for their time; the moved booking's first was replaced.
    assert figures["pending"] >= 3 and figures["cancelled"] == 1


def test_demo_segment_delivery_reaches_the_linked_members_with_its_report(
    running_demo: demo.Demo,
) -> None:
    news = {
        u: [t for t in running_demo.texts(u) if "12月の営業日" in t] for u in running_demo.users
    }
    assert news == {
        "hanako": ["佐藤 花子様、12月の営業日のお知らせです。年末は31日まで営業しております。"],
        "ichiro": ["鈴木 一郎様、12月の営業日のお知らせです。年末は31日まで営業しております。"],
        "misaki": [],
        "yui": [],
    }
    report = running_demo.admin(f"/campaigns/{running_demo.campaign_id('december-news')}/report")
    assert (report["status"], report["planned"], report["sent"]) == ("completed", 2, 2)


def test_demo_owner_signs_in_to_the_console_and_finds_a_linked_friend(
    running_demo: demo.Demo,
) -> None:
    browser = Browser(running_demo.hub_url)

    signed_in = browser.sign_in(demo.OWNER_EMAIL, running_demo.owner_password)
    found = browser.get("/console/friends", params={"q": "M-1001"})
    chart_path = re.search(r'href="(/console/friends/\d+)"', found.text)
    assert chart_path
    chart = browser.get(chart_path.group(1))

    assert signed_in.status_code == 303
    assert running_demo.console_url == f"{running_demo.hub_url}/console"
    assert "1 人" in found.text
    assert "M-1001" in chart.text and "佐藤 花子" in chart.text
    assert "シャンプー" in chart.text  # the Shopify order on the timeline


def test_demo_owner_signs_in_through_the_sandbox_single_sign_on(running_demo: demo.Demo) -> None:
    assert running_demo.oidc is not None
    browser = Browser(running_demo.hub_url)
    login = browser.get("/console/login")
    started = browser.get("/console/login/sso")
    [owner] = running_demo.oidc.state.users
    with httpx.Client(timeout=10) as person:
        chooser = person.get(started.headers["location"])
        first_form = chooser.text.split("</form>")[0]
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', first_form))
        back = person.post(f"{running_demo.oidc.url}/authorize", data={**fields, "sub": owner.sub})

    signed_in = browser.get(back.headers["location"])

    assert "Sandbox SSO でログイン" in login.text
    assert owner.email == demo.OWNER_EMAIL
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/friends"
    assert browser.get("/console/friends").status_code == 200


def test_every_url_the_demo_prints_answers_200(running_demo: demo.Demo) -> None:
    printed = [value for _, value in running_demo.where_to_look()]
    urls = [url for value in printed for url in re.findall(r"https?://\S+", value)]
    auth = {"Authorization": f"Bearer {running_demo.token}"}

    answers = {
        url: httpx.get(url, headers=auth, timeout=10, follow_redirects=True).status_code
        for url in urls
    }

    assert len(urls) >= 18
    assert answers == dict.fromkeys(urls, 200)


def test_the_printed_member_card_opens_the_demo_channels_liff_app(
    running_demo: demo.Demo,
) -> None:
    [card] = [value for label, value in running_demo.where_to_look() if label == "Member card"]

    page = httpx.get(card, timeout=10)

    assert page.status_code == 200
    assert f'"liffId": "{demo.LIFF_ID}"' in page.text
    app = running_demo.sandbox.state.liff_app(demo.LIFF_ID)
    assert app.endpoint_url == card.split("?", 1)[0]


def test_the_api_reference_loads_its_scripts_and_styles_from_the_hub(
    running_demo: demo.Demo,
) -> None:
    page = httpx.get(f"{running_demo.hub_url}/docs", timeout=10)

    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert page.status_code == 200
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    assert all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        served = httpx.get(running_demo.hub_url + asset, timeout=10)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    [script] = [a for a in assets if a.endswith("swagger-ui-bundle.js")]
    assert "SwaggerUIBundle" in httpx.get(running_demo.hub_url + script, timeout=10).text


# What a person sees opening each address the demo prints, in a browser (the admin API ones
# with the printed token, as the demo says to use them).
SHOWS = {
    "Staff console": "パスワード",
    "API reference": "/webhooks/line/{channel_id}",
    "Member card": "M-1001",
    "Sandbox LINE": "はなこ",
}


def test_every_url_the_demo_prints_opens_in_a_browser_and_shows_what_it_says(
    running_demo: demo.Demo, chromium: Any
) -> None:
    context = chromium.new_context(
        viewport={"width": 375, "height": 812},
        locale="ja-JP",  # a phone in a Japanese shop
        extra_http_headers={"Authorization": f"Bearer {running_demo.token}"},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    seen: dict[str, str] = {}
    for label, value in running_demo.where_to_look():
        for url in re.findall(r"https?://\S+", value):
            response = page.goto(url)
            assert response is not None and response.ok, (label, url, response and response.status)
            page.wait_for_load_state("networkidle")
            text = page.inner_text("body")
            seen[label] = text
            if label in SHOWS:
                assert SHOWS[label] in text, (label, url, text[:300])
            elif "/api/admin/v1/" in url:
                assert json.loads(text), (label, url, text[:100])  # the API's answer, not empty
    context.close()

    assert set(SHOWS) <= set(seen)
    assert "ok" in seen["Health, metrics"] or "tsunagu_" in seen["Health, metrics"]
    assert errors == []


def test_demo_keeps_the_photo_a_friend_sent_for_staff_to_see(running_demo: demo.Demo) -> None:
    misaki = running_demo.users["misaki"]
    friend = next(f for f in running_demo.admin("/friends")["items"] if f["line_user_id"] == misaki)
    timeline = running_demo.admin(f"/friends/{friend['id']}/chart")["timeline"]["items"]
    [photo] = [entry["media"] for entry in timeline if entry.get("media")]

    content = httpx.get(
        f"{running_demo.hub_url}/api/admin/v1/media/{photo['message_id']}/content",
        headers={"Authorization": f"Bearer {running_demo.token}"},
        timeout=10,
    )

    assert photo["kind"] == "image" and photo["state"] == "stored"
    assert content.status_code == 200 and content.content.startswith(b"\x89PNG")


def test_demo_coupon_campaign_gives_each_member_a_code_and_a_guest_order_redeems_one(
    running_demo: demo.Demo,
) -> None:
    (pool,) = running_demo.admin("/coupon-pools")["items"]
    codes = {
        user: [t for t in running_demo.texts(user) if "専用の10%OFFクーポン" in t]
        for user in ("hanako", "ichiro", "misaki")
    }

    assert len(codes["hanako"]) == 1 and len(codes["ichiro"]) == 1
    assert codes["hanako"][0].split(": ")[1] != codes["ichiro"][0].split(": ")[1]
    assert codes["misaki"] == []  # blocked, and never linked
    members = running_demo.admin(f"/campaigns/{running_demo.campaign_id('winter-coupon')}/report")
    assert (members["coupons"]["issued"], members["coupons"]["redeemed"]) == (2, 1)
    # With ゆい's code, brought by the poster: three given, two used.
    assert (pool["report"]["issued"], pool["report"]["redeemed"]) == (3, 2)
    assert pool["report"]["revenue"] == {"JPY": "8800.0000"}


def test_demo_poster_friend_gets_a_coupon_whose_order_shows_it_redeemed(
    running_demo: demo.Demo,
) -> None:
    (text,) = [t for t in running_demo.texts("yui") if "クーポン" in t]
    code = text.split(": ")[1]
    others = [t for u in ("hanako", "ichiro") for t in running_demo.texts(u) if code in t]
    report = running_demo.admin(f"/campaigns/{running_demo.campaign_id('poster-coupon')}/report")
    (pool,) = running_demo.admin("/coupon-pools")["items"]
    given = running_demo.admin(f"/coupon-pools/{pool['id']}")

    assert text.startswith("ゆいさん、ポスターを見て友だちになってくださり")
    assert others == []
    assert (report["coupons"]["issued"], report["coupons"]["redeemed"]) == (1, 1)
    assert report["coupons"]["revenue"] == {"JPY": "3300.0000"}
    assert {c["campaign"] for c in given["campaigns"]} == {"winter-coupon", "poster-coupon"}


def test_demo_staff_answer_the_friends_photo_question_from_the_inbox_on_a_phone(
    running_demo: demo.Demo, chromium: Any
) -> None:
    """Ichiro S. asked with a photo and waits (未対応): the owner answers from the inbox at
    375 px; his keyword message gets the booking auto-reply as a reply, never a push."""
    from playwright.sync_api import expect

    ichiro = running_demo.users["ichiro"]
    running_demo.sandbox.simulate.send_text(
        ichiro, "予約の変更をしたい", channel_id=demo.CHANNEL_ID
    )
    wait_for(
        lambda: (
            demo_inbox.replies_received(running_demo, "ichiro").count(
                ("replyMessage", demo_inbox.BOOKING_ANSWER)
            )
            == 2
        ),
        what="the booking auto-reply to the new keyword message",
    )
    received = demo_inbox.replies_received(running_demo, "ichiro")
    assert ("pushMessage", demo_inbox.BOOKING_ANSWER) not in received

    context = chromium.new_context(
        viewport={"width": 375, "height": 812}, base_url=running_demo.hub_url, locale="ja-JP"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/console/login")
    page.fill("#email", demo.OWNER_EMAIL)
    page.fill("#password", running_demo.owner_password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/console/friends")
    page.goto("/console/inbox")
    page.click(".conversation-list .friend-row >> text=Ichiro S.")
    expect(page.locator("#status-badge")).to_have_text("未対応")
    expect(page.locator(".timeline")).to_contain_text(demo_inbox.QUESTION)
    booking = page.locator(".timeline .bubble.delivery", has_text="ご予約はメニュー")
    expect(booking.first.locator(".source")).to_have_text("自動応答")
    photo = page.locator(".timeline img.media")
    photo.scroll_into_view_if_needed()
    width = page.wait_for_function(
        "() => document.querySelector('.timeline img.media').naturalWidth"
    )
    assert width.json_value() == 480

    page.fill("#reply-text", "はい、お写真の髪型でお受けできます。")
    page.click("#composer button >> text=送信")
    page.wait_for_url("**sent=**")
    expect(page.locator("#status-badge")).to_have_text("対応中")
    wait_for(
        lambda: "はい、お写真の髪型でお受けできます。" in running_demo.texts("ichiro"),
        what="the owner's answer on Ichiro's phone",
    )
    width_px = page.evaluate("document.documentElement.scrollWidth")
    assert width_px <= 375, f"the conversation scrolls sideways: {width_px}px"
    context.close()
    assert errors == []
