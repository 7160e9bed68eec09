"""The demo's traced coupon: a pool of per-friend codes on a new discount in the sandbox store,
a campaign giving each linked member their own code, and a guest checkout using はなこ's, which
the pool's report then shows redeemed: the code says whose it was. Later the friend a poster's
QR code brought gets a code of the same pool, and her order shows it redeemed too."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from sandbox.shopify.server import ShopifyServer
from tsunagu import demo_shop
from tsunagu.demo_routes import POSTER_TAG

if TYPE_CHECKING:
    from tsunagu.demo import Demo

CHANNEL_ID = "2000000001"
CODE = re.compile(r"WINTER-[A-Z0-9]+")


def _call(demo: Demo, method: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.request(
        method,
        f"{demo.hub_url}/api/admin/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {demo.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def send_coupons(demo: Demo, step: Callable[[str], None]) -> None:
    """Pool, codes, a coupon campaign to the linked members, and an order that uses one."""
    assert demo.store is not None
    store, connection_id = demo.store
    pool = _call(
        demo,
        "POST",
        "/coupon-pools",
        {
            "name": "winter",
            "connection_id": connection_id,
            "title": "冬のご来店クーポン 10%OFF",
            "code_prefix": "WINTER",
            "percentage": "10",
        },
    )
    _call(demo, "POST", f"/coupon-pools/{pool['id']}/codes", {"count": 5})
    demo_shop.wait(
        lambda: demo.admin(f"/coupon-pools/{pool['id']}")["codes"]["ready"] == 5,
        "the coupon codes to be imported into the store",
    )
    campaign = _call(
        demo,
        "PUT",
        "/campaigns/winter-coupon",
        {
            "name": "winter-coupon",
            "channel": CHANNEL_ID,
            "kind": "segment",
            "trigger": {"segment": "linked-members"},
            "coupon_pool": "winter",
            "messages": [
                {
                    "type": "text",
                    "text": "{{ display_name }}さん、あなた専用の10%OFFクーポンです: {{ coupon }}",
                }
            ],
        },
    )
    demo.admin(f"/campaigns/{campaign['id']}/run", method="POST")
    demo_shop.wait(lambda: _code_of(demo, "hanako") is not None, "はなこ's coupon", timeout=60.0)
    code = _code_of(demo, "hanako")
    assert code is not None
    # A guest checkout: nothing in the order names her, but her code does.
    order = _order_with(demo, store, connection_id, code, "gift-buyer@example.jp", "5500")
    demo_shop.wait(
        lambda: demo.admin(f"/coupon-pools/{pool['id']}")["report"]["redeemed"] == 1,
        "the coupon's redemption",
    )
    report = demo.admin(f"/coupon-pools/{pool['id']}")["report"]
    step(
        f"coupon pool `winter`: {report['issued']} members each got their own Shopify code; "
        f"a guest checkout used はなこ's code {code} (order {order['name']}), shown redeemed "
        f"(console: /console/coupons/{pool['id']})"
    )


def _code_of(demo: Demo, user: str) -> str | None:
    found = [m.group(0) for t in demo.texts(user) for m in [CODE.search(t)] if m]
    return found[0] if found else None


def send_poster_coupon(demo: Demo, step: Callable[[str], None]) -> None:
    """The friends the poster brought (tagged ポスター) get a code of the same pool; ゆい's is
    used in an online order, which her campaign's report then shows."""
    assert demo.store is not None
    store, connection_id = demo.store
    _call(
        demo,
        "PUT",
        "/segments/poster-friends",
        {"name": "poster-friends", "rules": {"tag": POSTER_TAG}},
    )
    campaign = _call(
        demo,
        "PUT",
        "/campaigns/poster-coupon",
        {
            "name": "poster-coupon",
            "channel": CHANNEL_ID,
            "kind": "segment",
            "trigger": {"segment": "poster-friends"},
            "coupon_pool": "winter",
            "messages": [
                {
                    "type": "text",
                    "text": "{{ display_name }}さん、ポスターを見て友だちになってくださり"
                    "ありがとうございます。10%OFFクーポン: {{ coupon }}",
                }
            ],
        },
    )
    demo.admin(f"/campaigns/{campaign['id']}/run", method="POST")
    demo_shop.wait(lambda: _code_of(demo, "yui") is not None, "ゆい's coupon", timeout=60.0)
    code = _code_of(demo, "yui")
    assert code is not None
    order = _order_with(demo, store, connection_id, code, "yui@example.jp", "3300")
    report = f"/campaigns/{campaign['id']}/report"
    demo_shop.wait(
        lambda: (demo.admin(report).get("coupons") or {}).get("redeemed") == 1,
        "ゆい's coupon redeemed",
    )
    step(
        f"the poster's new friends got a coupon too: ゆい used hers ({code}) in order "
        f"{order['name']}, shown redeemed on the campaign `poster-coupon` (/api/admin/v1{report})"
    )


def _order_with(
    demo: Demo, store: ShopifyServer, connection_id: int, code: str, email: str, price: str
) -> dict[str, Any]:
    """A guest checkout in the store using ``code``, sent to the hub by signed webhook."""
    order: dict[str, Any] = store.state.add_order(
        email=email, items=[("Gift set", 1, price)], discount_codes=[code]
    )
    store.webhooks.send(
        f"{demo.hub_url}/webhooks/shopify/{connection_id}",
        "orders/create",
        store.webhooks.order_payload(order["id"]),
    )
    return order
