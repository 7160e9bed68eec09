"""Message templates: LINE message objects with ``{{variables}}``, checked when saved.

A template is 1 to 5 LINE message objects (text, Flex, image, …). Any string in them may hold
``{{ display_name }}``, ``{{ member_name }}``, ``{{ shop_name }}``, ``{{ booking_time }}`` …, a
custom field of the friend ``{{ field.hair }}``, a tracked link
``{{ link:https://shop.example/sale }}`` or the shop's standalone tracked link
``{{ tracked:spring-menu }}`` (each friend their own code).
``check`` refuses an unknown or unavailable variable (a field the shop has not defined) and
anything LINE would refuse, with every variable at its longest, when the campaign is saved;
``render`` fills one friend's values in at planning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from messaging.outbox import payloads
from messaging.outbox.payloads import InvalidMessages, Message

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_LINK_PREFIX = "link:"
FIELD_PREFIX = "field."
TRACKED_PREFIX = "tracked:"
# A custom field's longest value (a text field's limit, crm.fields.TEXT_MAX).
FIELD_LONGEST = "名" * 500

# Every variable a template may use, with the longest value it may take (LINE display names
# are at most 20 characters; the rest are bounded where they are made).
VARIABLES: dict[str, str] = {
    "display_name": "名" * 20,
    "member_name": "名" * 50,
    "member_number": "0" * 64,
    "shop_name": "名" * 200,
    "coupon_code": "C" * 100,
    "coupon": "C" * 64,
    "booking_time": "2026年12月31日(木) 23:59",
    "booking_date": "2026年12月31日(木)",
    "booking_service": "S" * 100,
    "booking_store": "S" * 100,
}
# What every send knows (the friend's names and number, the shop's name); booking variables only
# reminders, the coupon (a static code, or a pool's code per friend) only campaigns with one.
FRIEND_VARIABLES = frozenset({"display_name", "member_name", "member_number", "shop_name"})
BOOKING_VARIABLES = frozenset({"booking_time", "booking_date", "booking_service", "booking_store"})
# Rendered tracked links are `{public_url}/r/{code}`; this bounds their length when checking.
LINK_SAMPLE = "https://hub.example.invalid/r/" + "x" * 32


class InvalidTemplate(InvalidMessages):
    """The template uses a variable it cannot have, or breaks one of LINE's rules."""


def placeholders(messages: Sequence[Message]) -> set[str]:
    """Every ``{{ … }}`` expression the template uses (links as ``link:URL``)."""
    found: set[str] = set()

    def collect(text: str) -> str:
        found.update(_PLACEHOLDER.findall(text))
        return text

    _walk(messages, collect)
    return found


def links(messages: Sequence[Message]) -> list[str]:
    """The URLs of the template's tracked links."""
    return sorted(
        p[len(_LINK_PREFIX) :] for p in placeholders(messages) if p.startswith(_LINK_PREFIX)
    )


def is_personal(messages: Sequence[Message]) -> bool:
    """Whether each friend gets their own rendering (so pushes, not one multicast)."""
    return bool(placeholders(messages))


def check(messages: Sequence[Message], *, available: Collection[str]) -> list[Message]:
    """Return the template if it is valid with every variable at its longest; else raise.

    ``available`` names the variables this kind of send knows (e.g. booking ones in reminders).
    """
    if not isinstance(messages, list | tuple):
        raise InvalidTemplate("messages must be a list of 1 to 5 LINE message objects")
    for expression in sorted(placeholders(messages)):
        if expression.startswith(_LINK_PREFIX):
            _check_link(expression[len(_LINK_PREFIX) :])
        elif expression.startswith(TRACKED_PREFIX):
            if expression not in available:
                defined = sorted(v for v in available if v.startswith(TRACKED_PREFIX))
                raise InvalidTemplate(
                    f"{{{{ {expression} }}}} is not a tracked link of this shop; "
                    f"tracked links: {', '.join(defined) or 'none'}"
                )
        elif expression.startswith(FIELD_PREFIX):
            if expression not in available:
                defined = sorted(v for v in available if v.startswith(FIELD_PREFIX))
                raise InvalidTemplate(
                    f"{{{{ {expression} }}}} is not a custom field of this shop; "
                    f"fields: {', '.join(defined) or 'none'}"
                )
        elif expression not in VARIABLES:
            known = ", ".join(sorted(VARIABLES))
            raise InvalidTemplate(
                f"unknown variable {{{{ {expression} }}}}; known: {known}, field.KEY, link:URL, "
                "tracked:NAME"
            )
        elif expression not in available:
            raise InvalidTemplate(
                f"{{{{ {expression} }}}} is not known to this kind of send; "
                f"available here: {', '.join(sorted(available))}"
            )
    try:
        payloads.validate(at_longest(messages, available=available))
    except InvalidMessages as exc:
        raise InvalidTemplate(f"{exc.detail} (with every variable at its longest)") from exc
    return [dict(m) for m in messages]


def unknown_variables(messages: Sequence[Message], *, available: Collection[str]) -> list[str]:
    """The template's ``{{ … }}`` expressions this kind of send cannot fill (tracked links to
    a URL aside, which any send makes), sorted."""
    return sorted(
        expression
        for expression in placeholders(messages)
        if not expression.startswith(_LINK_PREFIX) and expression not in available
    )


def at_longest(messages: Sequence[Message], *, available: Collection[str]) -> list[Message]:
    """The template rendered with every variable at its longest: what LINE's limits are
    checked against."""
    longest_fields = {v: FIELD_LONGEST for v in available if v.startswith(FIELD_PREFIX)}
    return render(
        messages,
        values={**VARIABLES, **longest_fields},
        link=lambda _url: LINK_SAMPLE,
        tracked=lambda _name: LINK_SAMPLE,
    )


def _check_link(url: str) -> None:
    if not re.fullmatch(r"https?://[^\s\"'<>]+", url):
        raise InvalidTemplate(f"{{{{ link:{url} }}}}: a tracked link needs an http(s) URL")


def render(
    messages: Sequence[Message],
    *,
    values: Mapping[str, str | None],
    link: Callable[[str], str] | None = None,
    tracked: Callable[[str], str] | None = None,
) -> list[Message]:
    """The template with ``values`` filled in, each link replaced by ``link(url)`` and each
    standalone link by ``tracked(name)``.

    A variable without a value renders empty (a friend with no member name yet).
    """

    def fill(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith(_LINK_PREFIX):
                url = expression[len(_LINK_PREFIX) :]
                return link(url) if link else url
            if expression.startswith(TRACKED_PREFIX):
                return tracked(expression[len(TRACKED_PREFIX) :]) if tracked else ""
            return values.get(expression) or ""

        return _PLACEHOLDER.sub(one, text)

    return _walk(messages, fill)


def _walk(node: Any, fill: Callable[[str], Any]) -> Any:
    if isinstance(node, str):
        return fill(node) if "{{" in node else node
    if isinstance(node, Mapping):
        return {key: _walk(value, fill) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_walk(item, fill) for item in node]
    return node
