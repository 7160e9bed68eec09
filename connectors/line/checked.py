"""Request bodies as the LINE SDK's models check and serialise them, once per content.

A send's messages (and custom aggregation unit) are one content of the outbox: shared by every
recipient of a campaign and by every retry of a batch. The SDK's request model checks and
serialises a content the first time it is seen, and later requests reuse that JSON with only
the recipient changed.

Personalised contents (a reminder with its own booking number) are each seen once, but most
differ only in the text of their text messages, and the SDK's model checks of such a text only
that it is a string (LINE's 5,000-character limit is the outbox's own check, when a send is
planned). So contents are also known by their *shape*, the content with those texts left out:
the model checks a shape once, and a content of a known shape is sent as the shape's JSON with
its own texts. Anything else in a message (a quick reply, an emoji, a flex bubble) is part of
the shape, so a content that differs there is checked on its own.
"""

from __future__ import annotations

import json
import threading
from typing import Any

# Enough for every content of a busy hour's campaigns; the cache starts over when full.
CACHE_SIZE = 4096


class CheckedRequests:
    """Bodies of one SDK request model (``model``), whose recipient is ``field``."""

    def __init__(self, model: Any, field: str, *, size: int = CACHE_SIZE) -> None:
        self._model = model
        self._field = field
        self._size = size
        self._by_key: dict[str, dict[str, Any]] = {}
        self._by_shape: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def body(
        self, recipient: Any, content: dict[str, Any], *, key: str | None, sample: Any = None
    ) -> dict[str, Any]:
        """``content`` for ``recipient``, as the model serialises it (the model checks it with
        ``sample`` as the recipient, if given); raises the model's ``ValueError`` if LINE's
        rules refuse it. ``key`` names the content (the outbox's content hash)."""
        wire = self._by_key.get(key) if key is not None else None
        if wire is None:
            shape, texts = shape_of(content)
            known = self._by_shape.get(shape) if shape is not None else None
            if known is not None:
                wire = with_texts(known, texts)
            else:
                checked = self._model.from_dict(
                    {self._field: recipient if sample is None else sample, **content}
                ).to_dict()
                wire = {name: part for name, part in checked.items() if name != self._field}
                self._keep(self._by_shape, shape, wire)
                self._keep(self._by_key, key, wire)
        return {self._field: recipient, **wire}

    def _keep(
        self, cache: dict[str, dict[str, Any]], name: str | None, wire: dict[str, Any]
    ) -> None:
        if name is None:
            return
        with self._lock:
            if len(cache) >= self._size:
                cache.clear()
            cache[name] = wire


def shape_of(content: dict[str, Any]) -> tuple[str | None, dict[int, str]]:
    """The content's shape (None if it has none: not plain JSON) and the texts left out of
    it, by message index."""
    messages = content.get("messages")
    if not isinstance(messages, list):
        return None, {}
    texts: dict[int, str] = {}
    blanked: list[Any] = []
    for index, message in enumerate(messages):
        if (
            isinstance(message, dict)
            and message.get("type") == "text"
            and isinstance(message.get("text"), str)
        ):
            texts[index] = message["text"]
            message = {**message, "text": ""}
        blanked.append(message)
    try:
        shape = json.dumps({**content, "messages": blanked}, sort_keys=True)
    except (TypeError, ValueError):
        return None, {}
    return shape, texts


def with_texts(wire: dict[str, Any], texts: dict[int, str]) -> dict[str, Any]:
    """A shape's serialised content with this content's texts put back."""
    if not texts:
        return wire
    messages = list(wire["messages"])
    for index, text in texts.items():
        messages[index] = {**messages[index], "text": text}
    return {**wire, "messages": messages}
