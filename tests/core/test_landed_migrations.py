"""Landed migrations are never edited: a database already upgraded past one would never see the
change. A change to the schema is a new migration; the files through 0043 keep these digests
(by revision; 0035, 0037 and 0038 were never used)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

VERSIONS = Path(__file__).resolve().parents[2] / "tsunagu" / "migrations" / "versions"

# sha256 of each landed migration, line endings as LF (a checkout on Windows is the same file).
LANDED = {
    "0001": "7c83dfaa27ed44e3b121600f8447b5c7acf1f0fef81b72bdcc73c388a576cfcc",
    "0002": "cbbb708d355d4dfdde2039984257a9c0428234936035a6949a6f7e8bfb7a5576",
    "0003": "09a315e46c4c5c0cb6c26996f8fb69b63361dd09f0b7005fdb16fe097edbf387",
    "0004": "1923e32dd997302e087c9c0aa33d157addd08d003764e52a7665f8d21dffaf34",
    "0005": "b917276c95136cbdfc7d5d2509f355d661541365fde2a8220c799eacaa8496a7",
    "0006": "02c1de404136f31df97d2a41ebe0b9897c3948320f42e5c480469512dc12da2c",
    "0007": "689c707c4f1681a3d76411dae3d9bfe33e3e41bb8f6b69e899f3a85c2148e35f",
    "0008": "12f232faed93e7fee35ae69ef8725eee5a92fc2cdccd3ff6b7e5573f0d2d66a7",
    "0009": "69dbb57551a1217ab83503a6efba1b2d1ee73451f8743e0f3ce46636e29c0a90",
    "0010": "7143bf3a74099b8db318c7b230741524f7dc44c21dae9474cbf40cf552861d4a",
    "0011": "46966977c36b5f2579d16bb191f0ac2a7d979b1704dd525fc77bbac197a01db3",
    "0012": "917eb1dfdb0af111064afe76a56bda6b0658bc8506b38f349dfce1e0c104a104",
    "0013": "67da6510d934c9c7efa3c42400e992253daa1157de9be314ff18edd02f6c4c61",
    "0014": "3eca8e1577bdb5135944705f644301ab8bff116b4901162a99810cce0ea9259b",
    "0015": "5e6a0c2580f50e3c804c1aacc13811259b877e1eb574765c3365e206a94ef029",
    "0016": "3d4542ba88888bcb15b9262e171e3c580db57d49ce0960a2bc4965187344c8b0",
    "0017": "67aac5410a09c7a383e2bab1844e749f5bb18058f285683b9aeb8ff62e1687e6",
    "0018": "eab10e53597bdff966fc97b1892f5d2bc2edeb856a52ba42fc1e7e29d503b584",
    "0019": "47ee4679f68a997e6fb7df36d7899ea62384a3a4bee6493d5a3c9421d95e35ad",
    "0020": "3ab40e3f3084c47ac546ff9a8720768177d7bede396d0c8dba84a41d9306953b",
    "0021": "afc5e7234507601befa914e78df54788d0496e4425eed7292c12fa677678a39f",
    "0022": "d192dd81e7841d7c2e20e6b86733d97b5b67fd4ee3e224eb36271957464e8b8b",
    "0023": "3dbcfc37451bf76693afabf9df1c26d02145652f31f486f303040de024474739",
    "0024": "d367313a67050b2bd0e5141af9f2c7c03b6a209c01fa6db8767f6ad5bd45ef87",
    "0025": "0f9c247367c9107d3984a2edfceec2a7898fe35ccf307c972dff451031c2604c",
    "0026": "b33b9cee3bf8ec488988b25b02129e86c206af83629d258d4ebbedeece5235f5",
    "0027": "7e6934143e3622729f32cf4e26487c53d843d23f3135650a63f23db81b2b80a4",
    "0028": "d3d287afb46e08112c85a2985e2fc787ca089033569024668991f8870f2f769a",
    "0029": "99f5a1ef5acb71932460b094936d024aeeb1efdcb4f44c0f82844acb50e93608",
    "0030": "4e2482314d77a3bf2d53af6c91bc555d1ed4e8360a57b94273bdc75964567496",
    "0031": "a53cf9134a68e88fa666294aedc30c9df39362a8c8013ae3bdd5dccf3e8da491",
    "0032": "011bd52eda75986fa96d837ebe64a0584e2255bdcd352060941642f31cb4d3b6",
    "0033": "b273299797e6d6ec45d9a286bdcfad0d314e51a174fd2755f85ed1ea0077b938",
    "0034": "44d3bf6927e6e61667e4612a78346896bfdea9756844e9d3248262fb808b0b7c",
    "0036": "4542d4e3128efdf1dbaca128f3a2b448c457ddeccc92af9c50f2ce87a59db256",
    "0039": "374542a76e87c841ad86ec37b149976dadd322d5e57a33ba3110a2dc94b9eb7b",
    "0040": "0d1354f4104e8463f5d5005adb1d73b0e573a45376cc350bb137cd454a8d5c8c",
    "0041": "d85c0bead4648192c63037a1fd9f2bf804f8318452e4c0deb4c1fa64032fea9d",
    "0042": "32277878756301f9c035e83578b6066fbc17c42a8ef6a04900c991c1aea03625",
    "0043": "16f1fd8d4e2de997509d89aff780156d6c230b273d578d1b84cef8ebfaf75b1d",
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@pytest.mark.parametrize("revision", sorted(LANDED))
def test_a_landed_migration_is_never_edited(revision: str) -> None:
    files = sorted(VERSIONS.glob(f"{revision}_*.py"))
    assert len(files) == 1, f"migration {revision} is gone or doubled: {files}"
    assert digest(files[0]) == LANDED[revision], (
        f"{files[0].name} was edited after it landed: databases already past it would never "
        "run the change. Put the change in a new migration."
    )
