from __future__ import annotations

import hashlib
import hmac

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import pii
from pmkt.libs.config import PiiConfig
from pmkt.libs.errors import UserError


def test_hmac_matches_pythons_hmac_for_short_long_and_unicode_keys(spark: SparkSession) -> None:
    values = ["alice@example.com", "Zoë Ångström", "+44 7123 456789", ""]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    for key in (b"k", b"a-much-longer-secret-key-" * 4, "clé-😀".encode()):
        got = dict(df.select("v", pii.hmac_sha256(F.col("v"), key).alias("h")).collect())
        assert got == {v: hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in values}


def test_normalised_forms_share_one_pseudonym(spark: SparkSession) -> None:
    rows = [
        ("email", " Alice@Example.COM "),
        ("email", "alice@example.com"),
        ("phone", "+44 7123-456 789"),
        ("phone", "+447123456789"),
        ("name", "  Ada   LOVELACE"),
        ("name", "ada lovelace"),
        ("name", "  "),
    ]
    df = spark.createDataFrame(rows, "kind string, v string")
    out = [
        df.where(F.col("kind") == kind).select(pii.pseudonym(kind, F.col("v"), b"k").alias("p")).distinct().collect()
        for kind in ("email", "phone")
    ]
    assert [len(o) for o in out] == [1, 1]
    names = {
        r.p
        for r in df.where(F.col("kind") == "name").select(pii.pseudonym("name", F.col("v"), b"k").alias("p")).collect()
    }
    assert names == {hmac.new(b"k", b"ada lovelace", hashlib.sha256).hexdigest(), None}


def test_email_domain_only_for_valid_addresses(spark: SparkSession) -> None:
    df = spark.createDataFrame([("A@Mail.Example.org",), ("not-an-email",), (None,)], "v string")
    assert [r.d for r in df.select(pii.email_domain(F.col("v")).alias("d")).collect()] == [
        "mail.example.org",
        None,
        None,
    ]


def test_key_resolution(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = PiiConfig(key_env="TEST_PII_KEY", allow_dev_key=True)
    monkeypatch.setenv("TEST_PII_KEY", "s3cret")
    assert pii.resolve_key(config, local=False) == b"s3cret"
    monkeypatch.delenv("TEST_PII_KEY")
    assert pii.resolve_key(config, local=True) == pii.DEV_KEY.encode()
    assert "development PII key" in caplog.text
    with pytest.raises(UserError, match="TEST_PII_KEY must hold"):
        pii.resolve_key(config, local=False)
    with pytest.raises(UserError):
        pii.resolve_key(PiiConfig(key_env="TEST_PII_KEY", allow_dev_key=False), local=True)
