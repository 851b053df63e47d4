"""The models: basket rules, churn, propensity, response and recommendations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pmkt.libs import schemas
from pmkt.libs.config.base import empty_map, iso_date
from pmkt.libs.errors import ConfigError


@dataclass(frozen=True)
class BasketConfig:
    level: str = "product"  # product | category
    per_customer: bool = False  # baskets per customer over window_days instead of per order
    window_days: int = 90  # per_customer baskets: days of orders in one basket
    min_support: float = 0.001  # share of baskets an itemset needs
    min_count: int = 10  # and at least this many baskets, so chance pairs in small data aren't rules
    min_confidence: float = 0.1  # rules below this confidence are dropped
    num_partitions: int = 0  # 0: Spark's default
    max_itemsets: int = 200000  # explosion guard: support is raised until the exact itemset count fits
    max_guard_rows: int = 50_000_000  # the guard's own work: a counting level larger than this counts as too many
    support_step: float = 2.0  # explosion guard: support is multiplied by this until the itemsets fit
    max_itemset_length: int = 0  # 0: no limit (filters the output; the guard bounds the work)
    max_item_support: float = 1.0  # items in a larger share of baskets are dropped before mining
    drop_single_item_baskets: bool = False  # False: support is a share of all baskets, as in Spark and mlxtend
    together_top_n: int = 5  # items kept per product in gold.frequently_bought_together
    together_min_confidence: float = 0.05  # see together_top_n
    crosssell_last_orders: int = 3  # cross-sell candidates come from each customer's last orders
    crosssell_top_n: int = 10  # cross-sell candidates kept per customer

    def __post_init__(self) -> None:
        if self.level not in ("product", "category"):
            raise ConfigError(f"config key 'basket.level' must be product or category, got '{self.level}'")
        for key in ("min_support", "min_confidence", "max_item_support"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(f"config key 'basket.{key}' must be in (0, 1]")
        if self.support_step <= 1:
            raise ConfigError("config key 'basket.support_step' must be greater than 1")
        if self.max_itemsets < 1:
            raise ConfigError("config key 'basket.max_itemsets' must be positive")


# How a churn reason code reads (feature -> words); a feature without words is named from its column.
CHURN_REASONS = {
    "recency_days": "long time since the last purchase",
    "frequency": "few orders",
    "monetary": "low spend",
    "days_since_last_event": "no recent visits",
    "events_30d": "little activity in the last 30 days",
    "events_90d": "little activity in the last 90 days",
    "orders_90d": "no recent orders",
    "orders_365d": "few orders this year",
    "overdue_ratio": "next order overdue",
    "days_between_orders": "long gaps between orders",
    "activity_trend": "activity dropping",
    "sessions_per_month": "rare visits",
    "conversion_rate": "low conversion",
    "tenure_days": "short tenure",
}


@dataclass(frozen=True)
class ChurnConfig:
    mode: str = "train"  # train: build labels, fit, evaluate, score; score: reuse the latest saved model
    horizon_days: int = 120  # a churner makes no purchase in this many days after the cutoff
    activity_days: int = 180  # only customers who bought in this many days before the cutoff are labelled
    train_cutoffs: int = 3  # rolling training cutoffs before the test cutoff
    step_days: int = 30  # days between training cutoffs
    label_column: str | None = None  # e.g. churn_label: use a supplied label instead of building one
    test_fraction: float = 0.25  # supplied labels: stratified random split
    # model inputs: columns of gold.customer_features or customer extras
    numeric_features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "days_between_orders",
        "overdue_ratio",
        "days_since_last_event",
        "events_30d",
        "events_90d",
        "orders_90d",
        "orders_365d",
        "activity_trend",
        "sessions_per_month",
        "conversion_rate",
        "tenure_days",
        "campaign_contacts",
    )
    # one-hot encoded, with a slot for levels unseen in training
    categorical_features: tuple[str, ...] = ("signup_channel",)
    reg_params: tuple[float, ...] = (0.0, 0.01, 0.1)  # CrossValidator grid of the logistic regression
    elastic_net_params: tuple[float, ...] = (0.0, 0.5)  # see reg_params
    folds: int = 3  # CrossValidator folds
    compare_gbt: bool = True  # also fit a GBTClassifier, evaluated on the same test; scores come from the LR
    gbt_trees: int = 40  # boosting iterations (trees) of that GBTClassifier
    gbt_max_depth: int = 4  # maximum depth of each of its trees (churn.gbt_trees)
    risk_bands: tuple[float, ...] = (0.3, 0.6)  # low < 0.3 <= medium < 0.6 <= high
    # feature -> words in reason codes; a feature without words is its name made human
    reason_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(CHURN_REASONS)))
    seed: int = 11  # seed of the split, the cross-validation and the GBT

    def __post_init__(self) -> None:
        if self.mode not in ("train", "score"):
            raise ConfigError(f"config key 'churn.mode' must be train or score, got '{self.mode}'")
        if self.horizon_days <= 0 or self.activity_days <= 0 or self.train_cutoffs < 1 or self.step_days <= 0:
            raise ConfigError(
                "config keys churn.horizon_days, activity_days, train_cutoffs and step_days must be positive"
            )
        if (
            list(self.risk_bands) != sorted(self.risk_bands)
            or not all(0 < b < 1 for b in self.risk_bands)
            or len(self.risk_bands) != 2
        ):
            raise ConfigError("config key 'churn.risk_bands' must be two increasing probabilities, e.g. [0.3, 0.6]")
        if not self.numeric_features and not self.categorical_features:
            raise ConfigError("config key 'churn.numeric_features' or 'churn.categorical_features' must list features")
        if self.folds < 2:
            raise ConfigError("config key 'churn.folds' must be at least 2")
        if self.gbt_trees < 1 or self.gbt_max_depth < 1:
            raise ConfigError("config keys churn.gbt_trees and churn.gbt_max_depth must be at least 1")


@dataclass(frozen=True)
class PropensityConfig:
    mode: str = "train"  # train, or score the latest snapshot with the latest saved model
    top_categories: int = 3  # one model, with category as a feature, for this many top categories by revenue
    horizon_days: int = 30  # P(buying in the category within this many days)
    train_cutoffs: int = 3  # rolling training cutoffs before the test cutoff
    step_days: int = 30  # days between training cutoffs
    # model inputs; category_share is the customer's share of spend in the category
    numeric_features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary",
        "category_share",
        "sessions_per_month",
        "events_30d",
    )
    reg_param: float = 0.01  # logistic regression's regularisation
    reason_names: Mapping[str, str] = field(default_factory=empty_map)  # feature -> words; default: the name made human


# A contact's features: the customer's as of the campaign start, and the contact's own channel and offer.
CONTACT_NUMERIC = (
    "recency_days",
    "frequency",
    "monetary",
    "campaign_open_rate",
    "campaign_conversion_rate",
    "offer_category_share",
    "sessions_per_month",
)
CONTACT_CATEGORICAL = ("channel", "offer_category")


@dataclass(frozen=True)
class ResponseConfig:
    numeric_features: tuple[str, ...] = CONTACT_NUMERIC  # the customer's as of the campaign start
    categorical_features: tuple[str, ...] = CONTACT_CATEGORICAL  # the contact's own columns
    # logistic regression's regularisation; at 0.01 it overfits a few hundred contacts (worse calibrated than a
    # constant guess on the test suite's lake)
    reg_param: float = 0.1


@dataclass(frozen=True)
class UpliftConfig:
    """Uplift models from treatment and control contacts: a T-learner and a class transformation."""

    numeric_features: tuple[str, ...] = CONTACT_NUMERIC  # the customer's as of the campaign start
    categorical_features: tuple[str, ...] = CONTACT_CATEGORICAL  # the contact's own columns
    num_trees: int = 60  # each random forest's trees
    max_depth: int = 5  # each tree's depth
    min_instances_per_node: int = 20  # a leaf needs this many contacts, so its conversion rate means something
    bins: int = 20  # Qini curve points: contacts ranked by predicted uplift, in this many quantile bins
    top_fractions: tuple[float, ...] = (0.1, 0.2, 0.3)  # uplift@k: observed uplift in the top k of contacts
    seed: int = 17  # the forests' seed

    def __post_init__(self) -> None:
        if self.num_trees < 1 or self.max_depth < 1 or self.bins < 2 or self.min_instances_per_node < 1:
            raise ConfigError("config keys uplift.num_trees, max_depth, min_instances_per_node must be >= 1, bins >= 2")
        if not all(0 < f <= 1 for f in self.top_fractions):
            raise ConfigError("config key 'uplift.top_fractions' must hold shares in (0, 1]")


@dataclass(frozen=True)
class CtrConfig:
    """P(click | contact): a factorization machine against logistic regression on hashed sparse features."""

    hash_features: int = 4096  # FeatureHasher's vector size
    factor_size: int = 4  # the factorization machine's latent factors per feature
    fm_iterations: int = 100  # the factorization machine's AdamW iterations
    step_size: float = 1.0  # its learning rate (MLlib's default)
    reg_param: float = 0.1  # L2 regularisation of both models (calibration: log loss is how the better is chosen)
    mobile_share: float = 0.5  # customers with at least this share of events on mobile count as mobile
    seed: int = 23  # the factorization machine's seed

    def __post_init__(self) -> None:
        if self.hash_features < 16 or self.factor_size < 1 or self.fm_iterations < 1 or self.step_size <= 0:
            raise ConfigError("config keys ctr.hash_features >= 16, factor_size, fm_iterations >= 1, step_size > 0")


@dataclass(frozen=True)
class ClvConfig:
    """Customer lifetime value: BG/NBD for purchases, Gamma-Gamma for order values."""

    snapshot: str | None = None  # None: the latest gold.customer_features snapshot, else the day after the last order
    period_days: float = 7.0  # the models' time unit: frequency, recency and age are counted in weeks
    horizon_days: int = 365  # expected purchases and CLV cover this many days after the snapshot
    step_days: int = 30  # CLV discounts the expected purchases of each step of this many days
    annual_discount_rate: float = 0.1  # CLV's discount rate per year
    margin: float = 1.0  # CLV counts this share of the expected revenue
    holdout_days: int = 90  # calibration: fit before the last holdout_days, compare predictions with them
    frequency_buckets: int = 7  # calibration rows: 0, 1, ..., 6 repeat purchases, then 7+
    penalizer: float = 0.0  # L2 penalty on the parameters (lifetimes' penalizer_coef); 0: plain maximum likelihood
    max_patterns: int = 500_000  # more distinct (x, t_x, T) patterns or (x, mean value) pairs: fit on rounded ones

    def __post_init__(self) -> None:
        for key in ("period_days", "horizon_days", "step_days", "holdout_days", "frequency_buckets", "max_patterns"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key 'clv.{key}' must be positive")
        if self.annual_discount_rate < 0 or self.margin <= 0 or self.penalizer < 0:
            raise ConfigError("config keys clv.annual_discount_rate and clv.penalizer must be >= 0, clv.margin > 0")
        if self.snapshot:
            iso_date(self.snapshot, "clv.snapshot")


@dataclass(frozen=True)
class AttributionConfig:
    """Multi-touch attribution of orders to campaign channels."""

    days: int = 365  # the paths of the last this many days of contacts and orders
    window_days: float = 14.0  # an order within this many days of a path's last touch converts it
    half_life_days: float = 7.0  # time decay: a touch this many days before the conversion counts half

    def __post_init__(self) -> None:
        for key in ("days", "window_days", "half_life_days"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key 'attribution.{key}' must be positive")


@dataclass(frozen=True)
class AlsConfig:
    rank: int = 32  # latent factors
    reg_param: float = 1.0  # regularisation
    alpha: float = 5.0  # confidence of implicit feedback: 1 + alpha x strength
    max_iter: int = 10  # alternating iterations
    blocks: int = 0  # user and item blocks; 0: the default parallelism
    checkpoint_interval: int = 5  # checkpoint every this many iterations (cuts the lineage)
    tune_trials: int = 10  # >0: random search over ranks x reg_params x alphas x max_iters on a validation split
    ranks: tuple[int, ...] = (32, 64, 128)  # tuning grid
    reg_params: tuple[float, ...] = (0.1, 1.0, 3.0)  # tuning grid
    alphas: tuple[float, ...] = (1.0, 5.0, 20.0)  # tuning grid
    max_iters: tuple[int, ...] = ()  # empty: max_iter only
    seed: int = 5  # seed of ALS and of the tuning draws


@dataclass(frozen=True)
class RecommendConfig:
    """Interaction weights, the four candidate sources, the hybrid blend, serving rules and evaluation."""

    # strength per event type; purchases count from order lines when there are any
    event_weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0})
    )
    rating_weight: float = 1.0  # a rating adds rating_weight x (rating - rating_centre)
    rating_centre: float = 0.0  # e.g. 2.5 on a 1-5 scale: a 3 counts little, a 5 much more
    min_rating: float = 0.0  # lower ratings carry no weight (never positive feedback), but still count as seen
    # linear: rating_weight x (rating - rating_centre); log: rating_weight x ln(1 + rating - rating_centre), for
    # counts in the `rating` column (plays, views, listens) whose few huge values would swamp a linear sum
    rating_scale: str = "linear"
    half_life_days: float = 0.0  # exponential time decay of interaction strength; 0: none
    top_k: int = 10  # recommendations per customer
    candidates: int = 50  # per source and customer, before the blend and the serving rules
    als: AlsConfig = field(default_factory=AlsConfig)  # ALS and its tuning
    itemcf_neighbours: int = 100  # item-CF neighbours kept per item
    itemcf_min_common: int = 2  # customers two items must share to be neighbours
    itemcf_user_items: int = 100  # each customer's strongest items that count for similarity and scoring
    content_features: int = 4096  # TF-IDF hashing size over names, descriptions, categories and brands
    content_neighbours: int = 20  # content neighbours kept per item
    content_min_similarity: float = 0.05  # content neighbours need at least this cosine
    lsh_above: int = 5000  # catalogues with more products use BucketedRandomProjectionLSH
    lsh_bucket_length: float = 0.5  # LSH bucket length (unit vectors)
    lsh_tables: int = 4  # LSH hash tables
    # A source left out of a conf's `weights` keeps its default weight.
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(DEFAULT_WEIGHTS)))
    rrf_k: int = 60  # blend by reciprocal rank, weight / (rrf_k + rank); 0: by score scaled to the best
    exclude: str = "seen"  # seen: every item the customer turned to; consumed: bought or rated; none
    max_per_category: int = 3  # diversification: more of one category only when nothing else is left
    split: str = "auto"  # evaluation and tuning: auto | global_time | per_user_last | per_user_random (undated)
    test_days: int = 30  # global_time: train before the last test_days, test on them
    validation_days: int = 30  # global_time tuning: the last validation_days of the training period
    test_fraction: float = 0.2  # per-user splits: each customer's share of items on the test side
    min_test_customers: int = 100  # fewer: auto falls back to per_user_last, and the test is flagged underpowered
    min_test_pairs: int = 200  # fewer relevant test items: flagged underpowered
    min_relevance: float = 0.0  # test items need more than 0 and at least this strength to count as relevant
    weight_trials: int = 16  # >0: random search over blend weights and rrf_k on the validation split

    def __post_init__(self) -> None:
        unknown = set(self.event_weights) - set(schemas.EVENT_TYPES)
        if unknown:
            raise ConfigError(
                f"unknown config key 'recommend.event_weights.{sorted(unknown)[0]}' "
                f"(event types are {', '.join(schemas.EVENT_TYPES)})"
            )
        bad = set(self.weights) - set(RECOMMEND_SOURCES)
        if bad:
            raise ConfigError(
                f"unknown config key 'recommend.weights.{sorted(bad)[0]}' (sources are {', '.join(RECOMMEND_SOURCES)})"
            )
        object.__setattr__(self, "weights", MappingProxyType({**DEFAULT_WEIGHTS, **self.weights}))
        if self.weights["popular"] <= 0:
            raise ConfigError("config key 'recommend.weights.popular' must be above 0: popularity fills every list")
        if any(w < 0 for w in (*self.event_weights.values(), *self.weights.values())):
            raise ConfigError("config keys 'recommend.event_weights' and 'recommend.weights' must not be negative")
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ConfigError(
                "config keys 'recommend.top_k' and 'recommend.candidates' must satisfy 1 <= top_k <= candidates"
            )
        if self.max_per_category < 1 or self.test_days < 1 or self.validation_days < 1:
            raise ConfigError(
                "config keys 'recommend.max_per_category', 'test_days' and 'validation_days' must be positive"
            )
        if self.rating_scale not in RATING_SCALES:
            raise ConfigError(
                f"config key 'recommend.rating_scale' must be {' or '.join(RATING_SCALES)}, got '{self.rating_scale}'"
            )
        if self.exclude not in ("seen", "consumed", "none"):
            raise ConfigError(f"config key 'recommend.exclude' must be seen, consumed or none, got '{self.exclude}'")
        if self.split not in SPLITS:
            raise ConfigError(f"config key 'recommend.split' must be one of {', '.join(SPLITS)}, got '{self.split}'")
        if not 0 < self.test_fraction < 1:
            raise ConfigError("config key 'recommend.test_fraction' must be in (0, 1)")


RECOMMEND_SOURCES = ("als", "itemcf", "content", "basket", "popular")


DEFAULT_WEIGHTS: dict[str, float] = {"als": 1.0, "itemcf": 0.5, "content": 0.1, "basket": 0.2, "popular": 0.05}


SPLITS = ("auto", "global_time", "per_user_last", "per_user_random")


RATING_SCALES = ("linear", "log")
