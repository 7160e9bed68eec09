"""``tsunagu member import`` and ``member add``, run as a shop would, against the test database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.audit import AuditLog
from core.crypto import verify_secret
from core.db import Database
from core.tenancy import Shop
from idlink.models import Member
from tests.cli_runner import Cli

HEADER = "member_number,name,email,phone,birth_date,pin,rank,store\n"


def members_of(db: Database, shop: Shop) -> dict[str, Member]:
    with db.session_scope() as session:
        rows = session.scalars(select(Member).where(Member.shop_id == shop.id))
        return {m.member_number: m for m in rows}


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_import_loads_a_file_with_normalised_values_and_prints_a_summary(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(
        tmp_path / "members.csv",
        HEADER
        + "M-1,佐藤 花子,Hanako@Example.JP,090-1234-5678,1990/4/1,1234,gold,ginza\n"
        + "M-2,鈴木 太郎,taro@example.jp,+81 80 1111 2222,1985-12-31,,silver,\n"
        + "M-3,,,,,,,\n",
    )

    result = cli("member", "import", "--shop", shop.slug, str(csv_file))

    assert result.exit_code == 0, result.output
    assert "created 3, updated 0, unchanged 0, skipped 0, failed 0 (3 rows" in result.stdout
    members = members_of(db, shop)
    hanako = members["M-1"]
    assert (hanako.name, hanako.email, hanako.phone, hanako.birth_date) == (
        "佐藤 花子",
        "hanako@example.jp",
        "+819012345678",
        "1990-04-01",
    )
    assert hanako.attributes == {"rank": "gold", "store": "ginza"}
    assert hanako.pin_hash is not None and verify_secret("1234", hanako.pin_hash)
    assert members["M-2"].pin_hash is None
    assert members["M-2"].attributes == {"rank": "silver"}
    assert members["M-3"].email is None


def test_running_the_same_import_again_changes_nothing(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(
        tmp_path / "members.csv",
        HEADER
        + "M-1,Hanako,hanako@example.jp,090-1234-5678,1990-04-01,1234,gold,ginza\n"
        + "M-2,Taro,taro@example.jp,080-1111-2222,1985-12-31,,silver,\n",
    )
    assert cli("member", "import", "--shop", shop.slug, str(csv_file)).exit_code == 0
    before = {n: m.updated_at for n, m in members_of(db, shop).items()}

    again = cli("member", "import", "--shop", shop.slug, "--update", str(csv_file))

    assert again.exit_code == 0, again.output
    assert "created 0, updated 0, unchanged 2, skipped 0, failed 0" in again.stdout
    assert {n: m.updated_at for n, m in members_of(db, shop).items()} == before


def test_bad_rows_are_reported_by_line_and_the_rest_of_the_file_still_loads(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(
        tmp_path / "members.csv",
        "member_number,name,email,phone\n"
        "M-1,Hanako,hanako@example.jp,090-1234-5678\n"
        "M-2,Taro,taro-at-example.jp,\n"
        '"M-3","Jiro\nthe second",,03-1234-5678\n'
        "M-4,Saburo,,90-1234-5678\n"
        "M-5,Goro\x00,,\n"
        "\n"
        ",No number,,\n"
        "M-6,Too,many,cells,here\n"
        "M-7,Shiro,shiro@example.jp,\n",
    )

    result = cli("member", "import", "--shop", shop.slug, str(csv_file))

    assert result.exit_code == 1
    assert "line 3 (M-2): email: 'taro-at-example.jp' is not an email address" in result.stderr
    assert "line 6 (M-4): phone: '90-1234-5678' has neither a leading 0" in result.stderr
    assert "line 7 (M-5): name: contains control characters" in result.stderr
    assert "line 9 (no number): member_number: is empty" in result.stderr
    assert "line 10 (M-6): row: has 5 cells, the header has 4" in result.stderr
    assert "created 3, updated 0, unchanged 0, skipped 0, failed 5" in result.stdout
    assert sorted(members_of(db, shop)) == ["M-1", "M-3", "M-7"]
    assert members_of(db, shop)["M-3"].name == "Jiro the second"


def test_existing_members_change_only_with_update(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    first = write(
        tmp_path / "v1.csv",
        "member_number,name,email,pin,rank\nM-1,Hanako,hanako@example.jp,1234,gold\n",
    )
    assert cli("member", "import", "--shop", shop.slug, str(first)).exit_code == 0
    second = write(
        tmp_path / "v2.csv", "member_number,name,email,pin,rank\nM-1,Hanako Sato,,,platinum\n"
    )

    kept = cli("member", "import", "--shop", shop.slug, str(second))

    assert kept.exit_code == 0
    assert "skipped 1" in kept.stdout
    assert "existing members differ from their rows (lines 2)" in kept.stderr
    assert members_of(db, shop)["M-1"].name == "Hanako"

    updated = cli("member", "import", "--shop", shop.slug, "--update", str(second))

    assert "created 0, updated 1" in updated.stdout
    member = members_of(db, shop)["M-1"]
    assert member.name == "Hanako Sato"
    assert member.email is None and member.email_index is None
    assert member.attributes == {"rank": "platinum"}
    assert member.pin_hash is not None and verify_secret("1234", member.pin_hash), (
        "an empty pin cell keeps the PIN"
    )


def test_a_file_that_breaks_midway_keeps_the_batches_before_it_and_can_be_rerun(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    good_rows = "".join(f"M-{n:05},Member {n},m{n}@example.jp\n" for n in range(600))
    broken = tmp_path / "broken.csv"
    broken.write_bytes(
        b"member_number,name,email\n" + good_rows.encode() + b"M-x,\xff\xfe,bad@example.jp\n"
    )

    result = cli("member", "import", "--shop", shop.slug, "--batch-size", "50", str(broken))

    assert result.exit_code == 1
    assert "is not utf-8-sig" in result.stderr
    assert "Try --encoding cp932" in result.stderr
    loaded = len(members_of(db, shop))
    assert 0 < loaded < 600, "the batches committed before the bad bytes remain"

    fixed = write(tmp_path / "fixed.csv", "member_number,name,email\n" + good_rows)
    rerun = cli("member", "import", "--shop", shop.slug, "--batch-size", "50", str(fixed))

    assert rerun.exit_code == 0, rerun.output
    assert f"created {600 - loaded:,}, updated 0, unchanged {loaded:,}" in rerun.stdout
    assert len(members_of(db, shop)) == 600


def test_a_shift_jis_export_imports_with_its_encoding(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(
        tmp_path / "excel.csv",
        "member_number,name,会員ランク\r\nM-1,山田 花子,ゴールド\r\n",
        "cp932",
    )

    result = cli("member", "import", "--shop", shop.slug, "--encoding", "cp932", str(csv_file))

    assert result.exit_code == 0, result.output
    member = members_of(db, shop)["M-1"]
    assert member.name == "山田 花子"
    assert member.attributes == {"会員ランク": "ゴールド"}


def test_a_file_without_a_member_number_column_is_refused_before_any_row(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(tmp_path / "members.csv", "number,name\n1,Hanako\n")

    result = cli("member", "import", "--shop", shop.slug, str(csv_file))

    assert result.exit_code == 1
    assert "no member_number column (the header has: number, name)" in result.stderr
    assert members_of(db, shop) == {}


def test_an_import_is_recorded_in_the_audit_log(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    csv_file = write(tmp_path / "spring.csv", "member_number,email\nM-1,a@example.jp\nM-2,bad\n")

    cli("member", "import", "--shop", shop.slug, str(csv_file))

    with db.session_scope() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.shop_id == shop.id)).one()
    assert (entry.actor, entry.action, entry.subject_id) == ("cli", "member.import", "spring.csv")
    assert entry.detail == {"update": False, "created": 1, "failed": 1}


def test_member_add_creates_one_member_and_refuses_a_taken_number(
    cli: Cli, db: Database, shop: Shop
) -> None:
    result = cli(
        "member", "add", "M-9", "--shop", shop.slug, "--phone", "090-9999-0000",
        "--attr", "rank=gold",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"member M-9 added to shop {shop.slug}" in result.stdout
    member = members_of(db, shop)["M-9"]
    assert member.phone == "+819099990000"
    assert member.attributes == {"rank": "gold"}

    again = cli("member", "add", "M-9", "--shop", shop.slug)
    assert again.exit_code == 1
    assert "member number 'M-9' already exists" in again.stderr
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1


def test_importing_into_an_unknown_shop_says_how_to_find_the_shops(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    csv_file = write(tmp_path / "members.csv", "member_number\nM-1\n")

    result = cli("member", "import", "--shop", "nowhere", str(csv_file))

    assert result.exit_code == 1
    assert "no shop 'nowhere': `tsunagu shop list` shows the shops" in result.stderr


def test_a_file_that_is_not_csv_or_not_in_the_named_encoding_is_refused_clearly(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    unclosed_quote = write(tmp_path / "broken.csv", 'member_number,name\nM-1,"' + "x" * 200_000)
    csv_file = write(tmp_path / "members.csv", "member_number\nM-1\n")

    not_csv = cli("member", "import", "--shop", shop.slug, str(unclosed_quote))
    unknown = cli("member", "import", "--shop", shop.slug, "--encoding", "klingon", str(csv_file))

    assert not_csv.exit_code == 1
    assert "is not CSV: field larger than field limit" in not_csv.stderr
    assert unknown.exit_code == 1
    assert "unknown encoding 'klingon'" in unknown.stderr
    assert members_of(db, shop) == {}


def test_every_failed_row_can_be_written_to_an_errors_file(
    cli: Cli, db: Database, shop: Shop, tmp_path: Path
) -> None:
    bad_rows = "".join(f"M-{n},not-an-email\n" for n in range(30))
    csv_file = write(tmp_path / "members.csv", "member_number,email\n" + bad_rows)
    report = tmp_path / "errors.csv"

    result = cli("member", "import", "--shop", shop.slug, "--errors", str(report), str(csv_file))

    assert result.exit_code == 1
    assert result.stderr.count("is not an email address") == 20
    assert f"and 10 more failed rows (all are in {report})" in result.stderr
    lines = report.read_text().splitlines()
    assert lines[0] == "line,member_number,reason"
    assert len(lines) == 31
    assert lines[-1] == "31,M-29,email: 'not-an-email' is not an email address"
