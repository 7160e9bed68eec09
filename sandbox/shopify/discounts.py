"""Code discounts in the sandbox store: ``discountCodeBasicCreate``, ``discountRedeemCodeBulkAdd``
and ``discountRedeemCodeBulkCreation``, as the GraphQL Admin API documents them.

A discount holds redeem codes; a code is unique in the whole store, compared without regard to
case. ``discountRedeemCodeBulkAdd`` takes at most 250 codes, answers at once with a
``bulkCreation`` id, and imports asynchronously: a creation is ``done`` after
``polls_before_done`` reads of it, and then says per code whether it was imported or why not
(``TAKEN`` for a code the store already has, or one given twice in the same call).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

MAX_CODES_PER_CALL = 250
MAX_CODE_LENGTH = 255
# What a mutation costs in the calculated-cost limiter.
MUTATION_COST = 10


@dataclass
class Discount:
    id: str
    title: str
    value: dict[str, Any]
    # Upper-cased code → the code as given, and how often orders used it.
    codes: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class BulkCreation:
    id: str
    discount_id: str
    codes: list[str]
    created_at: str
    polls_left: int
    done: bool = False
    # Per code, in the order given: None when imported, else the error.
    results: list[dict[str, Any] | None] = field(default_factory=list)


class DiscountStore:
    """The store's code discounts and redeem-code bulk creations (under the state's lock)."""

    def __init__(self) -> None:
        self.discounts: dict[str, Discount] = {}
        self.creations: dict[str, BulkCreation] = {}
        self.polls_before_done = 1

    def owner_of(self, code: str) -> Discount | None:
        key = code.upper()
        return next((d for d in self.discounts.values() if key in d.codes), None)

    def record_use(self, codes: list[str]) -> None:
        """An order used these codes: count each known one on its discount."""
        for code in codes:
            owner = self.owner_of(code)
            if owner is not None:
                key = code.upper()
                owner.usage[key] = owner.usage.get(key, 0) + 1

    def create_basic(self, new_id: str, data: dict[str, Any]) -> dict[str, Any]:
        errors = []
        title = str(data.get("title") or "")
        code = str(data.get("code") or "")
        if not title:
            errors.append(_error(["basicCodeDiscount", "title"], "BLANK", "Title can't be blank"))
        if not code:
            errors.append(_error(["basicCodeDiscount", "code"], "BLANK", "Code can't be blank"))
        elif self.owner_of(code) is not None:
            errors.append(_error(["basicCodeDiscount", "code"], "TAKEN", _TAKEN))
        gets = data.get("customerGets") or {}
        if not (gets.get("value") or {}):
            errors.append(
                _error(["basicCodeDiscount", "customerGets"], "BLANK", "Value can't be blank")
            )
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}
        discount = Discount(id=new_id, title=title, value=dict(gets["value"]))
        discount.codes[code.upper()] = code
        self.discounts[new_id] = discount
        return {
            "codeDiscountNode": {
                "id": new_id,
                "codeDiscount": {"title": title, "codesCount": {"count": 1}},
            },
            "userErrors": [],
        }

    def bulk_add(
        self, new_id: str, created_at: str, discount_id: str, codes: Any
    ) -> dict[str, Any]:
        if discount_id not in self.discounts:
            error = _error(["discountId"], "INVALID", "Discount does not exist")
            return {"bulkCreation": None, "userErrors": [error]}
        if not isinstance(codes, list) or not codes:
            error = _error(["codes"], "BLANK", "Codes can't be blank")
            return {"bulkCreation": None, "userErrors": [error]}
        if len(codes) > MAX_CODES_PER_CALL:
            message = f"Codes can't add more than {MAX_CODES_PER_CALL} codes at a time"
            return {"bulkCreation": None, "userErrors": [_error(["codes"], "TOO_LONG", message)]}
        given = [str((c or {}).get("code") or "") if isinstance(c, dict) else "" for c in codes]
        creation = BulkCreation(
            id=new_id,
            discount_id=discount_id,
            codes=given,
            created_at=created_at,
            polls_left=self.polls_before_done,
        )
        self.creations[new_id] = creation
        return {"bulkCreation": {"id": new_id}, "userErrors": []}

    def read_creation(self, creation_id: str, first: int, after: str | None) -> dict[str, Any]:
        creation = self.creations.get(creation_id)
        if creation is None:
            return {}
        if not creation.done:
            if creation.polls_left > 0:
                creation.polls_left -= 1
            else:
                self._import(creation)
        imported = sum(1 for r in creation.results if r is None)
        start = int(base64.b64decode(after).decode()) if after else 0
        shown = creation.codes[start : start + first] if creation.done else []
        end = start + len(shown)
        return {
            "id": creation.id,
            "createdAt": creation.created_at,
            "done": creation.done,
            "codesCount": len(creation.codes),
            "importedCount": imported,
            "failedCount": len(creation.results) - imported,
            "discountCode": {"id": creation.discount_id},
            "codes": {
                "nodes": [
                    _code_node(code, creation.results[start + i]) for i, code in enumerate(shown)
                ],
                "pageInfo": {
                    "hasNextPage": end < len(creation.codes) and creation.done,
                    "endCursor": base64.b64encode(str(end).encode()).decode() if shown else None,
                },
            },
        }

    def _import(self, creation: BulkCreation) -> None:
        discount = self.discounts[creation.discount_id]
        for code in creation.codes:
            if not code or len(code) > MAX_CODE_LENGTH or "\n" in code:
                creation.results.append(
                    _error(["code"], "INVALID", "Code must be 1 to 255 characters, one line")
                )
            elif self.owner_of(code) is not None:
                creation.results.append(_error(["code"], "TAKEN", _TAKEN))
            else:
                discount.codes[code.upper()] = code
                creation.results.append(None)
        creation.done = True


_TAKEN = "Code must be unique. Please try a different code."


def _error(path: list[str], code: str, message: str) -> dict[str, Any]:
    return {"field": path, "code": code, "message": message}


def _code_node(code: str, error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "code": code,
        "errors": [error] if error else [],
        "discountRedeemCode": None if error else {"code": code},
    }
