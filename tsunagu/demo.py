"""``tsunagu demo``: the whole hub on one machine, with the sandbox LINE platform.

Starts the sandbox and the hub (SQLite, embedded worker), creates a demo shop, channel and
members, applies the shop's campaigns file (``demo_campaigns.yaml``), then plays three LINE
users: each is welcomed by a step sequence, one links their member card in the LIFF page, one
links through LINE's account-link flow, one follows and blocks the account. A Shopify order
turns into a thank-you on the buyer's phone, a same-day booking into a reminder, and a segment
delivery goes to the linked members with its report. Coupon codes of a pool go one per member
and one to a new friend a poster's QR code brought, who answers the shop's survey in LINE (a
LIFF form) first, and orders using them show redeemed.
Everything goes over real HTTP, the way a phone and LINE's servers would reach the hub.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml
from pydantic import SecretStr

from config import Settings
from core import tenancy
from core.private_files import private_directory
from core.serving import ThreadedServer
from idlink import members
from idlink.members import MemberFields
from messaging import declarations
from messaging.outbox import guardrails
from sandbox.line.server import SandboxServer
from sandbox.oidc.server import OidcServer
from sandbox.shopify.server import ShopifyServer
from staff import service as staff_service
from staff.models import Role
from tsunagu import declared
from tsunagu.demo_coupons import send_coupons, send_poster_coupon
from tsunagu.demo_inbox import ask_the_shop, kept_media
from tsunagu.demo_linking import (
    CHANNEL_ID,
    LOGIN_CHANNEL_ID,
    link_in_liff,
    link_with_account_link,
)
from tsunagu.demo_routes import follow_from_poster, poster_route
from tsunagu.demo_shop import (
    DEMO_SHOP,
    MEMBERS,
    receive_bookings,
    sync_salesforce,
    sync_shopify,
    wait,
)
from tsunagu.demo_survey import answer_survey
from tsunagu.hub import Hub, build_hub


class Stoppable(Protocol):
    def stop(self) -> None: ...


OWNER_EMAIL = "owner@demo-salon.example"
LIFF_ID = f"{LOGIN_CHANNEL_ID}-membercard"


@dataclass(slots=True)
class Demo:
    """The running demo: where things are, and what the scripted users did."""

    hub: Hub
    hub_server: ThreadedServer
    sandbox: SandboxServer
    token: str
    owner_password: str
    users: dict[str, str] = field(default_factory=dict)
    others: list[Stoppable] = field(default_factory=list)
    # The sandbox OpenID Connect provider behind the console's "Sandbox SSO" button.
    oidc: OidcServer | None = None
    # The sandbox Shopify store and its connection's id, once synced.
    store: tuple[ShopifyServer, int] | None = None

    @property
    def hub_url(self) -> str:
        return self.hub.settings.public_url

    @property
    def console_url(self) -> str:
        return f"{self.hub_url}/console"

    def admin(self, path: str, *, method: str = "GET") -> Any:
        """Call an admin API path with the demo's token (GET, or POST without a body)."""
        response = httpx.request(
            method,
            f"{self.hub_url}/api/admin/v1{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def campaign_id(self, name: str) -> int:
        return next(c["id"] for c in self.admin("/campaigns")["items"] if c["name"] == name)

    def texts(self, user: str) -> list[str]:
        """What one of the demo's users received from the shop, oldest first."""
        inbox = self.sandbox.state.inbox(self.users[user], channel_id=CHANNEL_ID)
        return [str(m.message.get("text", m.message.get("altText", ""))) for m in inbox]

    def where_to_look(self) -> list[tuple[str, str]]:
        """What ``tsunagu demo`` prints when it is ready: each label with its URL or value."""
        hub, token = self.hub_url, self.token
        return [
            ("Staff console", self.console_url),
            ("Console login", f"{OWNER_EMAIL} / {self.owner_password}"),
            *self._single_sign_on(),
            ("API reference", f"{hub}/docs"),
            ("Admin API token", token),
            ("Friends", f'curl -H "Authorization: Bearer {token}" {hub}/api/admin/v1/friends'),
            ("Links", f"{hub}/api/admin/v1/links"),
            ("Members", f"{hub}/api/admin/v1/members"),
            ("Purchases", f"{hub}/api/admin/v1/purchases"),
            ("Bookings", f"{hub}/api/admin/v1/bookings"),
            ("Campaigns", f"{hub}/api/admin/v1/campaigns"),
            (
                "Segment report",
                f"{hub}/api/admin/v1/campaigns/{self.campaign_id('december-news')}/report",
            ),
            ("Outbox", f"{hub}/api/admin/v1/deliveries"),
            ("Sequences", f"{hub}/api/admin/v1/sequences"),
            ("Reminder rules", f"{hub}/api/admin/v1/reminder-rules"),
            ("Connections", f"{hub}/api/admin/v1/connections"),
            ("Inbound events", f"{hub}/api/admin/v1/events"),
            ("Audit log", f"{hub}/api/admin/v1/audit"),
            ("Sandbox LINE", f"{self.sandbox.url}/sandbox (users, what they received)"),
            (
                "Member card",
                f"{hub}/idlink/liff/{CHANNEL_ID}?sandbox_user={self.users['hanako']}",
            ),
            ("Follow routes", f"{hub}/api/admin/v1/routes"),
            ("Poster QR code", f"{poster_route(self)['qr_png']}"),
            ("Health, metrics", f"{hub}/readyz  {hub}/metrics"),
        ]

    def _single_sign_on(self) -> list[tuple[str, str]]:
        if self.oidc is None:
            return []
        return [
            (
                "Console single sign-on",
                f"“{SSO_NAME}” on the console login, then {OWNER_EMAIL} at the sandbox provider "
                f"{self.oidc.url}/.well-known/openid-configuration",
            )
        ]

    def stop(self) -> None:
        self.hub_server.stop()
        self.hub.stop()
        for server in self.others:
            server.stop()
        if self.oidc is not None:
            self.oidc.stop()
        self.sandbox.stop()


def demo_settings(base: Settings, *, port: int) -> Settings:
    """The demo's settings: a fresh SQLite file beside the data directory's, the local ports."""
    database = Path(base.data_dir) / "demo.db"
    for leftover in database.parent.glob("demo.db*"):
        leftover.unlink()
    return base.model_copy(
        update={
            "database_url": f"sqlite:///{database.as_posix()}",
            "broker_url": None,
            "public_url": f"http://127.0.0.1:{port}",
        }
    )


def start(
    base: Settings,
    *,
    port: int = 8000,
    sandbox_port: int = 8100,
    step: Callable[[str], None] = lambda _: None,
) -> Demo:
    """Start the sandbox and the hub, and play the demo's users; returns once all is settled."""
    private_directory(base.data_dir)
    sandbox = SandboxServer(port=sandbox_port).start()
    step(f"sandbox LINE platform on {sandbox.url}")
    oidc, oidc_settings = _start_oidc_provider(port)
    step(f"sandbox OpenID Connect provider on {oidc.url} (the console's single sign-on)")
    settings = demo_settings(base, port=port).model_copy(
        update={
            "line_api_url": sandbox.url,
            "line_access_url": sandbox.url,
            "line_web_url": sandbox.url,
            "liff_sdk_url": f"{sandbox.url}/liff/sdk.js",
            **oidc_settings,
        }
    )
    hub = build_hub(settings).start()
    server = ThreadedServer(hub.app, port=port).start()
    step(f"hub on {settings.public_url} (SQLite, embedded worker)")
    token, owner_password = _create_shop(hub, sandbox)
    demo = Demo(
        hub=hub,
        hub_server=server,
        sandbox=sandbox,
        token=token,
        owner_password=owner_password,
        oidc=oidc,
    )
    step(f"demo shop, LINE channel, 3 members and the console owner {OWNER_EMAIL} created")
    _declare_messaging(demo, step)
    _play(demo, step)
    return demo


SSO_NAME = "Sandbox SSO"


def _start_oidc_provider(port: int) -> tuple[OidcServer, dict[str, Any]]:
    """The sandbox provider, with the console as its client and the demo owner as its user;
    returns it and the hub settings that point the console at it."""
    oidc = OidcServer().start()
    client_secret = secrets.token_urlsafe(24)
    oidc.state.add_client(
        "tsunagu-demo-console", client_secret, f"http://127.0.0.1:{port}/console/login/sso/callback"
    )
    oidc.state.add_user(OWNER_EMAIL, name="Demo owner")
    return oidc, {
        "staff_oidc_issuer": oidc.url,
        "staff_oidc_client_id": "tsunagu-demo-console",
        "staff_oidc_client_secret": SecretStr(client_secret),
        "staff_oidc_name": SSO_NAME,
    }


CAMPAIGNS_FILE = Path(__file__).with_name("demo_campaigns.yaml")


def _declare_messaging(demo: Demo, step: Callable[[str], None]) -> None:
    """Apply the shop's campaigns file, as ``tsunagu apply`` does; send at any hour."""
    document = yaml.safe_load(CAMPAIGNS_FILE.read_text(encoding="utf-8"))
    with demo.hub.database.session_scope() as session:
        shop = tenancy.get_shop(session, DEMO_SHOP)
        plan = declarations.plan_changes(
            session, shop_id=shop.id, document=document, kinds=declared.KINDS
        )
        declarations.apply_changes(
            session, shop_id=shop.id, plan=plan, actor="demo", kinds=declared.KINDS
        )
        # The demo may run at night: no quiet hours, so every message shows at once.
        guardrails.set_policy(session, shop_id=shop.id, quiet_hours=None)
    kinds = ", ".join(f"{len(document.get(k) or [])} {k}" for k in declared.KIND_KEYS)
    step(f"campaigns file applied ({kinds}); quiet hours off for the demo")


def _create_shop(hub: Hub, sandbox: SandboxServer) -> tuple[str, str]:
    """The demo shop with its channel, members, an API token and a console owner; returns the
    token and the owner's password."""
    secret, access_token = secrets.token_hex(16), secrets.token_urlsafe(32)
    owner_password = secrets.token_urlsafe(12)
    login_secret = secrets.token_hex(16)
    with hub.database.session_scope() as session:
        shop = tenancy.create_shop(session, slug=DEMO_SHOP, name="Salon Tsunagu 表参道")
        tenancy.create_channel(
            session,
            shop=shop,
            name="Salon Tsunagu",
            line_channel_id=CHANNEL_ID,
            channel_secret=secret,
            access_token=access_token,
            login_channel_id=LOGIN_CHANNEL_ID,
            login_channel_secret=login_secret,
            liff_id=LIFF_ID,
        )
        for m in MEMBERS:
            members.create_member(
                session,
                shop_id=shop.id,
                member_number=m.number,
                fields=MemberFields(
                    name=m.name, email=m.email, phone=m.phone, birth_date=m.birth_date
                ),
                actor="demo",
            )
        _, token = tenancy.create_token(session, shop=shop, name="demo")
        owner = staff_service.add_staff(session, email=OWNER_EMAIL, shop=shop, role=Role.OWNER)
        staff_service.set_password_directly(session, user=owner, password=owner_password)
    sandbox.state.add_channel(
        CHANNEL_ID,
        secret,
        access_token,
        login_channel_id=LOGIN_CHANNEL_ID,
        login_channel_secret=login_secret,
        webhook_url=f"{hub.settings.public_url}/webhooks/line/{CHANNEL_ID}",
        display_name="Salon Tsunagu",
    )
    # The member card's LIFF app: the page it opens is the hub's, as a shop registers it.
    sandbox.state.add_liff_app(
        LOGIN_CHANNEL_ID,
        f"{hub.settings.public_url}/idlink/liff/{CHANNEL_ID}",
        liff_id=LIFF_ID,
    )
    return token, owner_password


def _play(demo: Demo, step: Callable[[str], None]) -> None:
    state, simulate = demo.sandbox.state, demo.sandbox.simulate
    hanako = state.add_user(display_name="はなこ", language="ja").user_id
    ichiro = state.add_user(display_name="Ichiro S.", language="ja").user_id
    misaki = state.add_user(display_name="みさき", language="ja").user_id
    demo.users = {"hanako": hanako, "ichiro": ichiro, "misaki": misaki}
    for user_id in (hanako, ichiro, misaki):
        simulate.follow(user_id, channel_id=CHANNEL_ID)
    wait(lambda: len(demo.admin("/friends")["items"]) == 3, "the three follows")
    step("3 LINE users followed the account (profiles fetched through the Messaging API)")
    wait(
        lambda: all(any("友だち追加" in t for t in demo.texts(u)) for u in demo.users),
        "the welcome sequence's first step",
    )
    step("each new friend was enrolled in the `welcome` sequence and received its first step")

    link_in_liff(demo, hanako, MEMBERS[0])
    step(f"はなこ linked member card {MEMBERS[0].number} in the LIFF page (verified ID token)")

    link_with_account_link(demo, ichiro, MEMBERS[1])
    step(f"Ichiro S. linked {MEMBERS[1].number} through LINE's account-link flow")
    ask_the_shop(demo, step, channel_id=CHANNEL_ID)

    simulate.send_text(misaki, "営業時間を教えてください", channel_id=CHANNEL_ID)
    simulate.send_media(misaki, "image", channel_id=CHANNEL_ID)
    wait(lambda: bool(kept_media(demo, misaki)), "the photo fetched from LINE")
    simulate.unfollow(misaki, channel_id=CHANNEL_ID)
    wait(
        lambda: any(f["status"] == "blocked" for f in demo.admin("/friends")["items"]),
        "the block",
    )
    step(
        "みさき sent a message and a photo (fetched from LINE and kept: see her chart), "
        "then blocked the account (nothing will be sent to her)"
    )

    sync_shopify(demo, step)
    send_coupons(demo, step)
    sync_salesforce(demo, step)
    receive_bookings(demo, step)
    _deliver_to_segment(demo, step)
    follow_from_poster(demo, step, login_channel_id=LOGIN_CHANNEL_ID)
    answer_survey(demo, step, login_channel_id=LOGIN_CHANNEL_ID)
    send_poster_coupon(demo, step)


def _deliver_to_segment(demo: Demo, step: Callable[[str], None]) -> None:
    """Send the segment campaign now and wait for its report."""
    campaign_id = demo.campaign_id("december-news")
    demo.admin(f"/campaigns/{campaign_id}/run", method="POST")
    wait(
        lambda: demo.admin(f"/campaigns/{campaign_id}")["status"] == "completed",
        "the segment delivery",
        timeout=60.0,
    )
    report = demo.admin(f"/campaigns/{campaign_id}/report")
    step(
        f"segment delivery `december-news` to linked members: {report['planned']} planned, "
        f"{report['sent']} sent (report: /api/admin/v1/campaigns/{campaign_id}/report)"
    )
