"""Helpers the configuration sections share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType

from pmkt.libs.errors import ConfigError


def empty_map() -> Mapping[str, str]:
    return MappingProxyType({})


def iso_date(value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"config key '{key}' must be an ISO date (YYYY-MM-DD), got '{value}'") from None
