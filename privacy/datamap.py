"""The data map in code: every column that holds personal data, how it is kept, who reads it,
how long it stays and what erasure does to it. ``docs/concepts/data-map.md`` is checked
against it, and the erasure test against the columns it finds the person in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PersonalColumn:
    holds: str
    encrypted: bool
    readers: str
    kept: str
    erasure: str


STAFF = "staff and admin API tokens of the shop"
ENGINEERS = "the shop's engineers (database access); not served by any API"
FOREVER = "until erased"

PERSONAL_COLUMNS: dict[tuple[str, str], PersonalColumn] = {
    ("friends", "line_user_id"): PersonalColumn(
        "LINE user id", False, STAFF, FOREVER, "replaced by `erased:friend:{id}`"
    ),
    ("friends", "display_name"): PersonalColumn(
        "LINE display name", False, STAFF, FOREVER, "cleared"
    ),
    ("friends", "picture_url"): PersonalColumn(
        "profile picture URL", False, STAFF, FOREVER, "cleared"
    ),
    ("friends", "status_message"): PersonalColumn(
        "LINE status message", False, STAFF, FOREVER, "cleared"
    ),
    ("friends", "language"): PersonalColumn(
        "language of the friend's LINE app", False, STAFF, FOREVER, "cleared"
    ),
    ("friends", "follow_route"): PersonalColumn(
        "the QR code or URL the friend followed from", False, STAFF, FOREVER, "cleared"
    ),
    ("route_visits", "line_user_id"): PersonalColumn(
        "LINE user id of who opened a follow route's URL", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("form_opens", "line_user_id"): PersonalColumn(
        "LINE user id of who opened a form's page",
        False,
        ENGINEERS,
        FOREVER,
        "replaced by `erased:friend:{id}` (the funnel still counts them)",
    ),
    ("form_submissions", "answers"): PersonalColumn(
        "a form's answers (email, phone, address, whatever the form asks)",
        True,
        STAFF,
        FOREVER,
        "deleted",
    ),
    ("members", "member_number"): PersonalColumn(
        "member number", False, STAFF, FOREVER, "replaced by `erased:member:{id}`"
    ),
    ("members", "name"): PersonalColumn("name", True, STAFF, FOREVER, "cleared"),
    ("members", "email"): PersonalColumn("email", True, STAFF, FOREVER, "cleared"),
    ("members", "email_index"): PersonalColumn(
        "keyed hash of the email (look-ups)", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("members", "phone"): PersonalColumn("phone (E.164)", True, STAFF, FOREVER, "cleared"),
    ("members", "phone_index"): PersonalColumn(
        "keyed hash of the phone (look-ups)", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("member_search_tokens", "token"): PersonalColumn(
        "keyed hashes of the name's words and character pairs (search)",
        False,
        ENGINEERS,
        FOREVER,
        "deleted",
    ),
    ("members", "birth_date"): PersonalColumn("birth date", True, STAFF, FOREVER, "cleared"),
    ("members", "birth_month_day"): PersonalColumn(
        "birthday without the year (birthday campaigns)", False, STAFF, FOREVER, "cleared"
    ),
    ("members", "pin_hash"): PersonalColumn(
        "scrypt hash of the PIN", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("members", "attributes"): PersonalColumn(
        "the shop's own member attributes", False, STAFF, FOREVER, "emptied"
    ),
    ("external_identities", "member_number"): PersonalColumn(
        "member number another system holds", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "line_user_id"): PersonalColumn(
        "LINE user id another system holds", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "external_id"): PersonalColumn(
        "the other system's customer id (or `purchase:{order}` for a guest)",
        False,
        ENGINEERS,
        FOREVER,
        "kept: it names nobody once the identity's fields are cleared, and lets a later "
        "redaction of the same customer find that nothing is left",
    ),
    ("external_identities", "email"): PersonalColumn(
        "email another system holds", True, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "email_index"): PersonalColumn(
        "keyed hash of that email", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "phone"): PersonalColumn(
        "phone another system holds", True, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "phone_index"): PersonalColumn(
        "keyed hash of that phone", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("external_identities", "name"): PersonalColumn(
        "name another system holds", True, ENGINEERS, FOREVER, "cleared"
    ),
    ("inbound_events", "payload"): PersonalColumn(
        "raw webhook bodies: LINE user ids, message text, order and customer details",
        False,
        STAFF + " (`GET /events/{id}`)",
        "deleted `TSUNAGU_RETAIN_RAW_EVENTS_DAYS` after processing (failed ones: "
        "`TSUNAGU_RETAIN_FAILED_EVENTS_DAYS`)",
        'replaced by `{"erased": true}` in every event naming the person',
    ),
    ("conversation_messages", "text"): PersonalColumn(
        "what the friend wrote",
        False,
        STAFF,
        "deleted after `TSUNAGU_RETAIN_MESSAGES_DAYS`",
        "cleared",
    ),
    ("conversation_messages", "payload"): PersonalColumn(
        "the message as LINE sent it (text, sticker, media ids)",
        False,
        STAFF,
        "deleted after `TSUNAGU_RETAIN_MESSAGES_DAYS`",
        'replaced by `{"erased": true}`',
    ),
    ("media_blobs", "data"): PersonalColumn(
        "the images, videos, audio and files the friend sent (or files under "
        "`TSUNAGU_MEDIA_DIR` with the filesystem storage)",
        False,
        "signed-in staff who may read friends (`/console/media/{id}`) and admin API tokens",
        "deleted after `TSUNAGU_RETAIN_MEDIA_DAYS`, or with the message",
        "deleted",
    ),
    ("media", "file_name"): PersonalColumn(
        "the name of a file the friend sent",
        False,
        STAFF,
        "cleared after `TSUNAGU_RETAIN_MEDIA_DAYS`",
        "deleted with the row",
    ),
    ("media", "external_url"): PersonalColumn(
        "where the friend's app hosts an image, video or audio outside LINE",
        False,
        STAFF,
        "cleared after `TSUNAGU_RETAIN_MEDIA_DAYS`",
        "deleted with the row",
    ),
    ("delivery_contents", "payload"): PersonalColumn(
        "rendered messages, personalised with names or member numbers",
        False,
        STAFF,
        "replaced `TSUNAGU_RETAIN_DELIVERY_PAYLOADS_DAYS` after the last send (per-friend sends)",
        "personalised ones replaced by a `(erased)` text",
    ),
    ("friend_field_values", "text"): PersonalColumn(
        "a custom field's text or choice (what the shop asks: address, preferences…)",
        False,
        STAFF,
        FOREVER,
        "deleted",
    ),
    ("notes", "body"): PersonalColumn(
        "what staff wrote about the friend", False, STAFF, FOREVER, "deleted with the note"
    ),
    ("conversation_notes", "body"): PersonalColumn(
        "an internal note staff wrote on the friend's conversation",
        False,
        STAFF,
        FOREVER,
        "deleted with the note (and the mentions it raised)",
    ),
    ("conversation_replies", "summary"): PersonalColumn(
        "the text of a reply staff sent the friend from the inbox",
        False,
        STAFF,
        FOREVER,
        "replaced by `(erased)`",
    ),
    ("staff_users", "email"): PersonalColumn(
        "a staff member's sign-in email (not a customer's)",
        False,
        "the shop's owners and admins",
        "until the account is deleted",
        "not a customer's: untouched",
    ),
    ("staff_sessions", "ip"): PersonalColumn(
        "a staff member's address when signed in (not a customer's)",
        False,
        "the staff member (their sessions)",
        "until the session ends (revoked or idle), then cleared by `privacy.retention`",
        "not a customer's: untouched",
    ),
    ("staff_sessions", "user_agent"): PersonalColumn(
        "a staff member's browser (not a customer's)",
        False,
        "the staff member (their sessions)",
        "until the session ends (revoked or idle), then cleared by `privacy.retention`",
        "not a customer's: untouched",
    ),
    ("audit_log", "detail"): PersonalColumn(
        "what an action changed (e.g. a member number); for console changes the staff "
        "member's address (`ip`)",
        False,
        STAFF + " (`GET /audit`)",
        "kept (the ledger)",
        'details naming the person replaced by `{"erased": true}`',
    ),
    ("link_nonces", "line_user_id"): PersonalColumn(
        "LINE user id of a pending account link",
        False,
        ENGINEERS,
        "until used or expired",
        "deleted",
    ),
    ("verification_throttles", "subject"): PersonalColumn(
        "`line:{user id}`, a keyed hash of a member number, or `nonce:{address}` (the "
        "address of a phone asking for a LIFF nonce)",
        False,
        ENGINEERS,
        "the lock-out window",
        "deleted",
    ),
    ("staff_sign_in_throttles", "subject"): PersonalColumn(
        "`account:{staff email}` or `address:{ip}` of failed console sign-ins",
        False,
        ENGINEERS,
        "the lock-out window",
        "not a customer's: untouched",
    ),
    ("tracked_links", "url"): PersonalColumn(
        "the address a tracked link a friend was sent leads to",
        False,
        STAFF,
        FOREVER,
        "cut to the site (`https://shop.example.jp/`)",
    ),
    ("privacy_rich_menu_unlinks", "line_user_id"): PersonalColumn(
        "LINE user id of an erased friend whose rich menu LINE has yet to drop",
        True,
        ENGINEERS,
        "until LINE accepts the unlink (retried with backoff)",
        "this row is what erasure leaves; deleted once done",
    ),
    ("link_clicks", "user_agent"): PersonalColumn(
        "browser of a tracked-link click", False, ENGINEERS, FOREVER, "cleared"
    ),
    ("audit_log", "actor"): PersonalColumn(
        "who acted: a staff token, or a friend by LINE user id (LIFF)",
        False,
        STAFF + " (`GET /audit`)",
        "kept (the ledger)",
        "the user id replaced by `erased:friend:{id}`",
    ),
    ("member_links", "linked_by"): PersonalColumn(
        "who linked: staff, or the friend by LINE user id",
        False,
        STAFF,
        FOREVER,
        "the user id replaced by `erased:friend:{id}`",
    ),
    ("member_links", "unlinked_by"): PersonalColumn(
        "who unlinked", False, STAFF, FOREVER, "the user id replaced by `erased:friend:{id}`"
    ),
    ("consent_records", "recorded_by"): PersonalColumn(
        "who recorded a consent: staff, or the friend by LINE user id",
        False,
        STAFF,
        "kept (proof of consent)",
        "the user id replaced by `erased:friend:{id}`",
    ),
}


def markdown_table() -> str:
    """The data map's table, as ``docs/concepts/data-map.md`` shows it."""
    rows = [
        "| Table | Column | Holds | Encrypted | Who may read it | Kept | Erasure |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (table, column), entry in PERSONAL_COLUMNS.items():
        cells = (
            f"`{table}`",
            f"`{column}`",
            entry.holds,
            "yes" if entry.encrypted else "no",
            entry.readers,
            entry.kept,
            entry.erasure,
        )
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
