"""Export of one person: a zip of JSON and CSV holding what the hub knows of them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from core import csvfile
from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import admin_api
from tests.privacy.support import EMAIL, NAME, Journey


def open_zip(content: bytes) -> tuple[dict, dict[str, list[dict[str, str]]]]:
    zipped = zipfile.ZipFile(io.BytesIO(content))
    document = json.loads(zipped.read("person.json"))
    tables = {
        name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(zipped.read(name).decode())))
        for name in zipped.namelist()
        if name.endswith(".csv")
    }
    return document, tables


def test_a_friends_export_holds_their_profile_card_orders_messages_and_sends(
    db: Database, hub_url: str, shop: Shop, journey: Journey
) -> None:
    api = admin_api(db, hub_url, shop)
    assert api.post(f"/friends/{journey.friend_id}/notes", {"body": "窓際の席が好み"}).is_success
    assert api.put("/fields/seat", {"key": "seat", "label": "席", "type": "text"}).is_success
    assert api.put(f"/friends/{journey.friend_id}/fields/seat", {"value": "窓際"}).is_success
    assert api.post(f"/friends/{journey.friend_id}/tags", {"name": "常連"}).is_success
    response = api.get(f"/friends/{journey.friend_id}/export")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"friend-{journey.friend_id}.zip" in response.headers["content-disposition"]
    document, tables = open_zip(response.content)
    [friend] = document["friends"]
    assert friend["line_user_id"] == journey.user_id and friend["display_name"] == NAME
    assert "linked" in friend["tags"]
    [member] = document["members"]
    assert (member["name"], member["email"], member["phone"]) == (NAME, EMAIL, "+819012345678")
    assert "pin_hash" not in member and "email_index" not in member
    [purchase] = document["purchases"]
    assert purchase["external_id"] == journey.order_id and purchase["items"]
    assert any(NAME in (m["text"] or "") for m in document["conversation_messages"])
    [delivery] = document["deliveries"]
    assert NAME in delivery["messages"][0]["text"] and delivery["state"] == "sent"
    assert {e["event_type"] for e in document["inbound_events"]} >= {"follow", "orders/create"}
    assert [n["body"] for n in document["notes"]] == ["窓際の席が好み"]
    assert [(f["field"], f["label"], f["text"]) for f in document["fields"]] == [
        ("seat", "席", "窓際")
    ]
    assert ("常連", True) in {(t["tag_name"], t["added"]) for t in document["tag_history"]}
    # The same records, one CSV per kind.
    assert tables["members"][0]["email"] == EMAIL
    assert tables["purchases"][0]["external_id"] == journey.order_id
    assert len(tables["conversation_messages"]) == len(document["conversation_messages"])
    with db.session_scope() as session:
        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "privacy.exported"))
        assert entry.detail["counts"]["purchases"] == 1
        assert EMAIL not in json.dumps(entry.detail)


def test_the_cli_exports_a_member_by_number_to_a_file(
    cli, shop: Shop, journey: Journey, tmp_path: Path
) -> None:
    target = tmp_path / "hanako.zip"

    result = cli(
        "privacy",
        "export",
        "--shop",
        shop.slug,
        "--member",
        journey.member_number,
        "-o",
        str(target),
    )

    assert result.exit_code == 0, result.output
    document, _ = open_zip(target.read_bytes())
    assert document["members"][0]["member_number"] == journey.member_number
    assert document["friends"][0]["line_user_id"] == journey.user_id
    assert target.stat().st_mode & 0o077 == 0


def test_csv_cells_that_a_spreadsheet_would_run_are_written_as_text() -> None:
    hostile = ['=HYPERLINK("http://x")', "+81", "-1", "@SUM(A1)", "\tx", "\rx", "plain"]

    document = csvfile.write_rows([{"value": v} for v in hostile], ["value"])

    cells = [row["value"] for row in csv.DictReader(io.StringIO(document))]
    assert cells == ["'" + v for v in hostile[:-1]] + ["plain"]
    assert csvfile.as_text(None) == "" and csvfile.as_text({"a": "=1"}) == '{"a": "=1"}'
