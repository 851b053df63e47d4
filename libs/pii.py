"""Keyed HMAC-SHA256 pseudonyms for PII, computed with Spark's own functions (no Python UDF)."""

from __future__ import annotations

import hashlib
import logging
import os

from pyspark.sql import Column
from pyspark.sql import functions as F

from pmkt.libs.config import PiiConfig
from pmkt.libs.errors import UserError

log = logging.getLogger("pmkt.pii")

# Documented development key: fine for synthetic data on a laptop, refused on clusters.
DEV_KEY = "pmkt-development-key-not-for-production"
_BLOCK = 64  # SHA-256 block size in bytes


def resolve_key(config: PiiConfig, local: bool) -> bytes:
    """The HMAC key from the environment; the development key only where the conf and master allow it."""
    key = os.environ.get(config.key_env, "")
    if key:
        return key.encode("utf-8")
    if config.allow_dev_key and local:
        log.warning("%s is not set: using the documented development PII key (not for real data)", config.key_env)
        return DEV_KEY.encode("utf-8")
    raise UserError(f"environment variable {config.key_env} must hold the PII pseudonymisation key on a cluster")


def hmac_sha256(value: Column, key: bytes) -> Column:
    """HMAC-SHA256(key, value) as lowercase hex; identical to Python's `hmac.new(key, v, sha256)`."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    inner_pad = bytes(b ^ 0x36 for b in padded)
    outer_pad = bytes(b ^ 0x5C for b in padded)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), F.encode(value, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)


def normalise(kind: str, value: Column) -> Column:
    """The form a value is hashed in, so that `A@X.com ` and `a@x.com` get one pseudonym."""
    text = F.trim(value)
    if kind == "email":
        text = F.lower(text)
    elif kind == "phone":
        text = F.regexp_replace(text, r"[^0-9+]", "")
    else:
        text = F.lower(F.regexp_replace(text, r"\s+", " "))
    return F.when(text != "", text)


def pseudonym(kind: str, value: Column, key: bytes) -> Column:
    """Null stays null; anything else becomes the keyed hash of its normalised form."""
    clean = normalise(kind, value)
    return F.when(clean.isNotNull(), hmac_sha256(clean, key))


def email_domain(value: Column) -> Column:
    """The domain of an email address, kept as a non-identifying feature."""
    clean = F.lower(F.trim(value))
    return F.when(clean.rlike(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), F.substring_index(clean, "@", -1))


# Matches e-mail addresses and phone-like digit runs inside free text, for redacting raw lines.
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PHONE_PATTERN = r"\+?\d[\d ().-]{6,}\d"
