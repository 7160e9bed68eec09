"""The auto-reply editors' forms, turned into the admin API's specs and back.

A form is flat (one input per setting; tags comma-separated; fields ``key=value`` per line); a
reply is a text, or LINE message objects as JSON for stickers, Flex and templates.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from autoreply.schemas import WEEKDAYS, FaqSpec, RuleSpec

LIMIT = 20_000


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.replace("、", ",").split(",") if n.strip()]


def _pairs(value: str) -> dict[str, str]:
    pairs = {}
    for line in value.splitlines():
        if line.strip():
            key, _, wanted = line.partition("=")
            pairs[key.strip()] = wanted.strip()
    return pairs


def _reply(form: dict[str, Any]) -> list[Any]:
    if form.get("reply_json", "").strip():
        messages = json.loads(form["reply_json"])
        return messages if isinstance(messages, list) else [messages]
    text = form.get("reply_text", "").strip()
    return [{"type": "text", "text": text}] if text else []


def rule_from_form(form: dict[str, Any]) -> RuleSpec:
    """The spec a rule form holds; ValueError (with every reason) when it holds none."""
    linked = {"yes": True, "no": False}.get(form.get("linked", ""))
    try:
        body = {
            "name": form.get("name", "").strip(),
            "channel": form.get("channel", ""),
            "enabled": bool(form.get("enabled")),
            "priority": form.get("priority") or 100,
            "match": form.get("match", ""),
            "pattern": form.get("pattern", "").strip(),
            "frequency": form.get("frequency") or "every_time",
            "schedule": {
                "weekdays": [d for d in WEEKDAYS if d in form.get("weekdays", [])],
                "start": form.get("start") or None,
                "end": form.get("end") or None,
                "outside": bool(form.get("outside")),
                "date_from": form.get("date_from") or None,
                "date_to": form.get("date_to") or None,
            },
            "conditions": {
                "tags": _names(form.get("tags", "")),
                "without_tags": _names(form.get("without_tags", "")),
                "fields": _pairs(form.get("fields", "")),
                "linked": linked,
            },
            "actions": {
                "reply": _reply(form),
                "add_tags": _names(form.get("add_tags", "")),
                "remove_tags": _names(form.get("remove_tags", "")),
                "set_fields": _pairs(form.get("set_fields", "")),
                "sequence": form.get("sequence", "").strip() or None,
                "account_link": bool(form.get("account_link")),
                "mark": form.get("mark", "").strip() or None,
                "assign": form.get("assign", "").strip() or None,
            },
        }
        return RuleSpec.model_validate(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply (JSON): {exc}") from exc
    except ValidationError as exc:
        raise ValueError(reasons(exc)) from exc


def reasons(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        place = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{place}: {message}" if place else message)
    return "; ".join(parts)


def rule_form(spec: RuleSpec) -> dict[str, Any]:
    """A rule as its form shows it."""
    reply = spec.actions.reply
    single_text = len(reply) == 1 and reply[0].get("type") == "text" and len(reply[0]) == 2
    schedule = spec.schedule
    return {
        "name": spec.name,
        "channel": spec.channel,
        "enabled": spec.enabled,
        "priority": spec.priority,
        "match": spec.match.value,
        "pattern": spec.pattern,
        "frequency": spec.frequency.value,
        "weekdays": list(schedule.weekdays),
        "start": schedule.start.strftime("%H:%M") if schedule.start else "",
        "end": schedule.end.strftime("%H:%M") if schedule.end else "",
        "outside": schedule.outside,
        "date_from": schedule.date_from.isoformat() if schedule.date_from else "",
        "date_to": schedule.date_to.isoformat() if schedule.date_to else "",
        "tags": ", ".join(spec.conditions.tags),
        "without_tags": ", ".join(spec.conditions.without_tags),
        "fields": "\n".join(f"{k}={v}" for k, v in spec.conditions.fields.items()),
        "linked": {True: "yes", False: "no"}.get(spec.conditions.linked, ""),  # type: ignore[arg-type]
        "reply_text": reply[0]["text"] if single_text else "",
        "reply_json": "" if single_text or not reply else json.dumps(reply, ensure_ascii=False),
        "add_tags": ", ".join(spec.actions.add_tags),
        "remove_tags": ", ".join(spec.actions.remove_tags),
        "set_fields": "\n".join(f"{k}={v or ''}" for k, v in spec.actions.set_fields.items()),
        "sequence": spec.actions.sequence or "",
        "account_link": spec.actions.account_link,
        "mark": spec.actions.mark or "",
        "assign": spec.actions.assign or "",
    }


def new_rule_form(channel: str) -> dict[str, Any]:
    return {"channel": channel, "enabled": True, "priority": 100, "match": "contains"}


def faq_from_form(form: dict[str, Any]) -> FaqSpec:
    try:
        return FaqSpec.model_validate(
            {
                "name": form.get("name", "").strip(),
                "channel": form.get("channel", ""),
                "enabled": bool(form.get("enabled")),
                "questions": [
                    q.strip() for q in form.get("questions", "").splitlines() if q.strip()
                ],
                "answer": form.get("answer", "").strip(),
                "threshold": form.get("threshold") or 0.3,
            }
        )
    except ValidationError as exc:
        raise ValueError(reasons(exc)) from exc


def faq_form(spec: FaqSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json") | {"questions": "\n".join(spec.questions)}
