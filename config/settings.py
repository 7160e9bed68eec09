"""All of tsunagu's configuration, read from ``TSUNAGU_*`` environment variables and ``.env``.

Every field has a default that runs the hub on one machine with nothing installed: SQLite in the
data directory, the in-process worker, LINE's public endpoints. The docs' configuration table
is generated from this class (``tsunagu config``), so the two cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The hub's settings; construct directly in tests, from the environment everywhere else."""

    model_config = SettingsConfigDict(
        env_prefix="TSUNAGU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        Path("tsunagu-data"),
        description="Where the embedded defaults keep the SQLite file and generated secret key.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. `postgresql+psycopg://user@host/db`. "
        "Default: SQLite at `{data_dir}/tsunagu.db`.",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker (`redis://…` or `amqp://…`). Unset: embedded in-process worker.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key(s) that encrypt secrets and PII at rest; comma-separated for rotation, "
        "the first encrypts. Unset: generated once into `{data_dir}/secret.key` (with a warning).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where friends' browsers reach the hub (LIFF and account-link pages).",
    )
    host: str = Field("127.0.0.1", description="Address `tsunagu serve` listens on.")
    port: int = Field(8000, description="Port `tsunagu serve` listens on.")
    line_api_url: str = Field(
        "https://api.line.me",
        description="LINE Messaging API and Login API base URL (also serves the data paths).",
    )
    line_access_url: str = Field(
        "https://access.line.me", description="LINE browser-facing base URL (account-link dialog)."
    )
    line_web_url: str = Field(
        "https://line.me",
        description="LINE's web base URL (a follow route's add-friend screen, `/R/ti/p/{id}`).",
    )
    liff_sdk_url: str = Field(
        "https://static.line-scdn.net/liff/edge/2/sdk.js",
        description="The LIFF SDK script the member-card page loads.",
    )
    id_token_verification: Literal["local", "remote"] = Field(
        "local",
        description="`local`: verify LIFF ID tokens with the JWKS (ES256) or channel secret "
        "(HS256); `remote`: ask LINE's verify endpoint.",
    )
    webhook_max_body_bytes: int = Field(
        1_000_000, description="Webhook bodies larger than this are refused with 413."
    )
    link_max_failures: int = Field(
        5, description="Failed member verifications allowed per member or friend per window."
    )
    link_failure_window_seconds: int = Field(
        900, description="The window (and lock-out) for failed member verifications."
    )
    link_code_ttl_hours: int = Field(72, description="How long a one-time link code stays valid.")
    event_max_attempts: int = Field(
        10, description="Processing tries for a stored inbound event before it is left for staff."
    )
    reply_token_seconds: float = Field(
        50.0,
        description="How long after its event a friend's reply token is used to answer them "
        "for free instead of a push (LINE honours it for a short time only; 0: never).",
    )
    sweep_interval_seconds: float = Field(
        15.0, description="How often the sweeper re-dispatches stored work a lost nudge left."
    )
    connector_schedule_interval_seconds: float = Field(
        60.0, description="How often the scheduler looks for connections whose sync is due."
    )
    rich_menu_sync_interval_seconds: float = Field(
        300.0, description="How often friends' rich menus are brought in line with their segments."
    )
    line_push_rate: float = Field(
        2000.0, description="Push requests per second per channel (LINE's documented limit)."
    )
    line_multicast_rate: float = Field(
        200.0, description="Multicast requests per second per channel (LINE's documented limit)."
    )
    dispatch_threads: int = Field(
        8,
        ge=1,
        le=256,
        description="Requests each dispatcher process keeps in flight to LINE. Pushes a process "
        "can send per second are about this divided by LINE's round trip: raise it when the "
        "hub is far from api.line.me.",
    )
    retain_raw_events_days: float = Field(
        7.0,
        ge=0,
        description="Days a processed inbound event (its raw body: names, message text) is kept "
        "for review; then it is deleted. 0: kept until the person is erased.",
    )
    retain_failed_events_days: float = Field(
        30.0,
        ge=0,
        description="Days an event that failed processing is kept for staff to review; then it "
        "is deleted. 0: kept until the person is erased.",
    )
    retain_messages_days: float = Field(
        365.0,
        ge=0,
        description="Days friends' conversation messages (text, stickers, media ids) are kept. "
        "0: kept until the friend is erased.",
    )
    retain_delivery_payloads_days: float = Field(
        90.0,
        ge=0,
        description="Days the rendered message of a per-friend send (a thank-you with a name) is "
        "kept after its last send; then only the send's state remains. 0: kept until erased.",
    )
    retain_media_days: float = Field(
        180.0,
        ge=0,
        description="Days the images, videos, audio and files friends sent are kept; then their "
        "content is deleted and the message shows it expired. 0: kept until the friend is erased.",
    )
    media_max_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1,
        description="Largest content fetched from LINE (bytes); larger media is refused and "
        "marked too large, the message itself is kept.",
    )
    reply_image_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        le=10 * 1024 * 1024,
        description="Largest image (JPEG or PNG) staff may send in a reply, in bytes; LINE's own "
        "limit, 10 MB, is the most.",
    )
    media_storage: Literal["database", "filesystem"] = Field(
        "database",
        description="Where fetched media is kept: `database` (shared by every hub machine) or "
        "`filesystem` (under `TSUNAGU_MEDIA_DIR`, which every machine must then share).",
    )
    media_dir: Path | None = Field(
        None,
        description="Directory of the `filesystem` media storage. Default: `{data_dir}/media`.",
    )
    media_fetch_attempts: int = Field(
        5,
        ge=1,
        description="Runs of the media fetch (each retrying LINE's 5xx and timeouts with backoff) "
        "before a medium is marked failed.",
    )
    media_fetch_timeout_seconds: float = Field(
        30.0, gt=0, description="Time limit of one download from LINE's content endpoint."
    )
    retention_interval_seconds: float = Field(
        3600.0, description="How often the retention purge runs (raw events, messages, sends)."
    )
    staff_idle_minutes: int = Field(
        480, ge=1, description="A console session unused for this long is signed out."
    )
    staff_sign_in_max_failures: int = Field(
        5, ge=1, description="Failed console sign-ins per account or address before a lock."
    )
    staff_sign_in_lock_seconds: int = Field(
        900, ge=1, description="The window for failed console sign-ins, and how long a lock lasts."
    )
    staff_password_link_hours: int = Field(
        24, ge=1, description="How long a staff member's set-password link stays valid."
    )
    staff_oidc_issuer: str | None = Field(
        None,
        description="OpenID Connect issuer for console single sign-on, e.g. "
        "`https://accounts.google.com`. Unset: no single sign-on.",
    )
    staff_oidc_client_id: str | None = Field(
        None, description="The console's client id at the single sign-on issuer."
    )
    staff_oidc_client_secret: SecretStr | None = Field(
        None, description="The console's client secret at the single sign-on issuer."
    )
    staff_oidc_name: str = Field(
        "SSO", description="What the sign-in page's single sign-on button names, e.g. `Google`."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: Literal["json", "text"] = Field("json", description="`json` lines or `text`.")

    @field_validator("public_url", "line_api_url", "line_access_url", "line_web_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tsunagu.db').as_posix()}"

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: tasks run on the in-process worker."""
        return not self.broker_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
