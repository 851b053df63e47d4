"""Campaigns: audiences, channels, offers, triggers, and the fairness audit of their decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pmkt.libs.errors import ConfigError


@dataclass(frozen=True)
class AudienceRule:
    """A named audience: `when` is Spark SQL over the customer view (profiles, segments, scores)."""

    name: str  # the audience a campaign names
    when: str  # Spark SQL over the customer view; consent is always required on top
    reason: str = ""  # shown in gold.audiences; default: the condition itself


@dataclass(frozen=True)
class ChannelConfig:
    cost: float  # per contact
    capacity: int  # contacts per campaign


TARGETING = ("response", "uplift", "explore")


@dataclass(frozen=True)
class CampaignSpec:
    id: str  # the campaign's id in gold.campaign_plan
    audience: str  # one of campaign.audiences
    channels: tuple[str, ...]  # of campaign.channels; each customer gets the best (offer, channel) by expected profit
    budget: float  # total contact cost allowed
    name: str = ""  # shown in the plan and the messages
    control_share: float = 0.1  # share of the selected customers held out (hashed, stable) as control
    # offers considered: product, cross_sell, category
    offer_types: tuple[str, ...] = ("product", "cross_sell", "category")
    # response: rank by expected profit P(convert) x value - cost; uplift: by expected incremental profit,
    # uplift x value - cost, with the uplift model `pmkt uplift` saved; explore: no model, a random offer and
    # channel each and a random order within budget (a first campaign, whose contacts the models learn from)
    targeting: str = "response"

    def __post_init__(self) -> None:
        if not 0 <= self.control_share < 1:
            raise ConfigError(f"campaign '{self.id}': control_share must be in [0, 1)")
        if self.budget < 0:
            raise ConfigError(f"campaign '{self.id}': budget must not be negative")
        if self.targeting not in TARGETING:
            raise ConfigError(f"campaign '{self.id}': targeting must be one of {', '.join(TARGETING)}")
        bad = set(self.offer_types) - set(OFFER_TYPES)
        if bad:
            raise ConfigError(
                f"campaign '{self.id}': unknown offer type '{sorted(bad)[0]}' "
                f"(offer types are {', '.join(OFFER_TYPES)})"
            )


OFFER_TYPES = ("product", "cross_sell", "category")


TRIGGER_KINDS = ("cart_abandoned", "churn_risk_high", "birthday", "first_purchase", "high_value_return")


@dataclass(frozen=True)
class TriggerRule:
    """An automation rule: `kind` is one of TRIGGER_KINDS; `hours`/`days` parameterise it."""

    name: str  # the rule's name in gold.actions
    kind: str  # cart_abandoned | churn_risk_high | birthday | first_purchase | high_value_return
    action: str  # what to do, e.g. send cart reminder
    channel: str = "email"  # channel of the action
    # cart_abandoned: no purchase within this many hours of the cart (0.5: half an hour);
    # high_value_return: the batch campaign looks for returns in the last `hours`
    hours: float = 24.0
    # birthday: in the next `days`; cart_abandoned and first_purchase: look back `days`;
    # high_value_return: a silence longer than `days` before the return
    days: int = 7
    min_score: int = 4  # high_value_return: the customer's monetary score (m_score, 1..5) is at least this

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_KINDS:
            raise ConfigError(
                f"trigger '{self.name}': kind must be one of {', '.join(TRIGGER_KINDS)}, got '{self.kind}'"
            )
        if self.hours <= 0:
            raise ConfigError(f"trigger '{self.name}': hours must be positive, got {self.hours}")


TEMPLATES = {
    "default": "Hello {{ customer_id }}, we picked {{ product_name }} for you ({{ offer_reason }}).",
    "category": "Hello {{ customer_id }}, new arrivals in {{ category }} are waiting for you.",
    "cross_sell": "Hello {{ customer_id }}, {{ product_name }} goes well with what you bought ({{ offer_reason }}).",
}


@dataclass(frozen=True)
class CampaignConfig:
    snapshot: str | None = None  # None: the latest feature snapshot
    suppression_path: str | None = None  # CSV (with header) or Parquet with a customer_id column
    audiences: tuple[AudienceRule, ...] = ()  # named audiences
    # channel -> cost per contact and capacity per campaign
    channels: Mapping[str, ChannelConfig] = field(default_factory=lambda: MappingProxyType({}))
    campaigns: tuple[CampaignSpec, ...] = ()  # planned campaigns: the next best offer under budget and caps
    max_contacts: int = 2  # frequency cap: at most this many contacts per customer ...
    cap_window_days: int = 30  # ... in this many days, across campaigns
    offers_per_source: int = 3  # recommendations, cross-sell items and categories considered per customer
    # Message copy by "<segment>/<offer type>", "<offer type>" or "default"; fields in {{ }}.
    templates: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(TEMPLATES)))
    triggers: tuple[TriggerRule, ...] = ()  # automation rules -> gold.actions
    alpha: float = 0.05  # significance level of the treatment-vs-control tests (Holm-adjusted per campaign)

    def __post_init__(self) -> None:
        names = [a.name for a in self.audiences]
        for spec in self.campaigns:
            if spec.audience not in names:
                raise ConfigError(
                    f"campaign '{spec.id}': unknown audience '{spec.audience}' (audiences: {', '.join(names)})"
                )
            for channel in spec.channels:
                if channel not in self.channels:
                    raise ConfigError(
                        f"campaign '{spec.id}': unknown channel '{channel}' (channels: {', '.join(self.channels)})"
                    )
        if self.templates and "default" not in self.templates:
            raise ConfigError("config key 'campaign.templates' must have a 'default' template")


@dataclass(frozen=True)
class FairnessConfig:
    """`pmkt fairness`: selection rates and error rates by protected or proxy group."""

    groups: tuple[str, ...] = ("gender", "age_band", "city")  # columns of gold.customer_features or silver.customers
    protected: tuple[str, ...] = ("gender", "age_band")  # kept out of every model's features ...
    allow_protected_features: bool = False  # ... unless this re-admits them (logged as a warning)
    min_group_size: int = 30  # smaller groups are reported but not flagged (too few to judge)
    min_disparate_impact: float = 0.8  # the four-fifths rule
    max_parity_difference: float = 0.1  # selection-rate gap between the most and least selected group
    max_equalised_odds_difference: float = 0.1  # largest TPR or FPR gap, where labels exist
    # A selection-rate gap is flagged only when it is also significant: a two-proportion z-test of the group
    # against everyone else, at this level divided by the number of groups (Bonferroni). Small groups miss the
    # four-fifths rule by chance alone.
    significance: float = 0.05
    propensity_top_share: float = 0.1  # propensity "selects" its top 10% per category

    def __post_init__(self) -> None:
        if not 0 < self.min_disparate_impact <= 1:
            raise ConfigError("config key 'fairness.min_disparate_impact' must be in (0, 1]")
        if not 0 < self.propensity_top_share < 1:
            raise ConfigError("config key 'fairness.propensity_top_share' must be in (0, 1)")
        if not 0 < self.significance <= 1:
            raise ConfigError("config key 'fairness.significance' must be in (0, 1]")
