"""A campaign's plan: who is in reach, treatment and control, the matched control, and the plan's rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.campaign import messages, offers
from pmkt.libs.config import CampaignSpec
from pmkt.libs.frames import one, union_all

PLAN = (
    "campaign_id",
    "campaign_name",
    "snapshot_date",
    "customer_id",
    "group",
    "segment_name",
    "channel",
    "offer_type",
    "product_id",
    "product_name",
    "category",
    "offer_reason",
    "p_convert",
    "uplift",
    "p_click",
    "value",
    "cost",
    "expected_profit",
    "planned_at",
    "message",
)


def recent_contacts(
    sent: DataFrame | None, planned: DataFrame | None, campaign_id: str, day: dt.date, window_days: int
) -> DataFrame | None:
    """Customers contacted in the cap window before `day`: treatments sent (silver.campaign_contacts; no group
    means treatment), and treatments other campaigns planned (gold.campaign_plan). None: nothing to look at."""
    start = dt.datetime.combine(day - dt.timedelta(days=window_days), dt.time())
    parts = []
    if sent is not None:
        in_window = (F.col("sent_ts") >= F.lit(start)) & (F.col("sent_ts") < F.lit(dt.datetime.combine(day, dt.time())))
        treated = F.coalesce(F.col("group"), F.lit("treatment")) == "treatment"
        parts.append(sent.where(treated & in_window).select("customer_id"))
    if planned is not None:
        other = (F.col("group") == "treatment") & (F.col("campaign_id") != campaign_id)
        recent = F.col("snapshot_date") > F.lit(day - dt.timedelta(days=window_days))
        parts.append(planned.where(other & recent).select("customer_id"))
    return union_all(parts) if parts else None


def in_reach(
    members: DataFrame, view: DataFrame, spec: CampaignSpec, recent: DataFrame | None, max_contacts: int
) -> DataFrame:
    """The audience's customers under the frequency cap, with their profile and their group: a stable
    draw per (campaign, customer) puts `control_share` of them in control."""
    chosen = members.where(F.col("audience") == spec.audience).select("customer_id").distinct()
    if recent is not None:
        chosen = chosen.join(offers.capped(recent, max_contacts), on="customer_id", how="left_anti")
    control = offers.control_draw(spec.id) < spec.control_share
    return chosen.join(view, on="customer_id", how="inner").withColumn(
        "group", F.when(control, F.lit("control")).otherwise(F.lit("treatment"))
    )


def matched_control(best: DataFrame, treated: DataFrame, by: str = "expected_profit") -> DataFrame:
    """The control customers whose best offer's expected profit (or what else the campaign ranks `by`) clears the
    lowest one that was treated, so the control group is held to the treated group's selection (none when nobody
    was treated)."""
    floor = one(treated.agg(F.min(by)))[0]  # one value
    cleared = F.col(by) >= F.lit(floor if floor is not None else float("inf"))
    return best.where((F.col("group") == "control") & cleared)


def rows(
    treated: DataFrame,
    control: DataFrame,
    products: DataFrame,
    spec: CampaignSpec,
    day: dt.date,
    templates: Mapping[str, str],
) -> DataFrame:
    """gold.campaign_plan's rows of one campaign: a control row costs nothing and gets no message."""
    is_treated = F.col("group") == "treatment"
    plan = (
        treated.unionByName(control)
        .join(products.select("product_id", "product_name"), on="product_id", how="left")
        .withColumn("campaign_id", F.lit(spec.id))
        .withColumn("campaign_name", F.lit(spec.name or spec.id))
        .withColumn("snapshot_date", F.lit(day))
        .withColumn("cost", F.when(is_treated, F.col("contact_cost")).otherwise(0.0))
        .withColumn("planned_at", F.current_timestamp())
    )
    return plan.withColumn("message", F.when(is_treated, messages.render(plan, templates))).select(*PLAN)
