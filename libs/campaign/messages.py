"""Message copy from templates in the conf: `{{ field }}` placeholders filled in Spark, no UDF."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.errors import ConfigError

FIELDS = ("customer_id", "segment_name", "product_name", "category", "offer_reason", "channel", "campaign_name")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def normalise(templates: Mapping[str, str]) -> dict[str, str]:
    """Templates with placeholders written `{{field}}`; an unknown field is a config error."""
    out = {}
    for key, text in templates.items():
        for name in PLACEHOLDER.findall(text):
            if name not in FIELDS:
                raise ConfigError(
                    f"config key 'campaign.templates.{key}' uses unknown field '{name}' (fields: {', '.join(FIELDS)})"
                )
        out[key] = PLACEHOLDER.sub(lambda m: "{{" + m.group(1) + "}}", text)
    return out


def render(plan: DataFrame, templates: Mapping[str, str]) -> Column:
    """The template for "<segment>/<offer type>", else "<offer type>", else "default", filled in."""
    if not templates:
        return F.lit(None).cast("string")
    table = F.create_map(*[F.lit(x) for kv in normalise(templates).items() for x in kv])
    text = F.coalesce(
        table[F.concat_ws("/", F.col("segment_name"), F.col("offer_type"))],
        table[F.col("offer_type")],
        table[F.lit("default")],
    )
    for name in FIELDS:
        value = F.coalesce(F.col(name).cast("string"), F.lit("")) if name in plan.columns else F.lit("")
        text = F.replace(text, F.lit("{{" + name + "}}"), value)
    return text
