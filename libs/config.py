"""The platform's configuration: frozen dataclasses built from `conf/*.yaml` plus `--set` overrides."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pmkt.libs import schemas
from pmkt.libs.conf_loader import apply_override, build, read_yaml
from pmkt.libs.errors import ConfigError

DEFAULT_CONF = Path("conf/local.yaml")
READ_FORMATS = ("csv", "json", "parquet", "text")


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class LakeConfig:
    """Where tables live: path-based under `root`, or metastore tables when `catalog` is set."""

    root: str = "lakehouse"  # root of the path-based tables: <root>/<layer>/<table>, any Hadoop path
    catalog: str | None = None  # e.g. "main" (Unity Catalog) or "spark_catalog"
    schema_prefix: str = "pmkt_"  # metastore schemas are <prefix><layer>, e.g. pmkt_silver
    lock_wait_seconds: float = 600.0  # a job waits this long for another job on the same lake, then fails


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = "pmkt"  # the Spark application name
    master: str | None = None  # None: spark-submit, the environment or the notebook decides
    log_level: str = "WARN"  # Spark's own log level
    delta_jars: str = "auto"  # auto: .jars/ folder if present, else Maven coordinates; provided: add none
    delta_version: str = "4.0.0"  # Delta's version in the Maven coordinates when no jars are fetched
    jars_dir: str | None = None  # default: <project>/.jars
    checkpoint_dir: str | None = None  # default: <lake.root>/_checkpoints
    # any spark.* option; wins over the laptop defaults that local masters get
    options: Mapping[str, str] = field(default_factory=_empty)

    def __post_init__(self) -> None:
        if self.delta_jars not in ("auto", "provided"):
            raise ConfigError(f"config key 'spark.delta_jars' must be auto or provided, got '{self.delta_jars}'")
        bad = [k for k in self.options if not k.startswith("spark.")]
        if bad:
            raise ConfigError(f"config key 'spark.options.{bad[0]}' is not a Spark option (must start with 'spark.')")


@dataclass(frozen=True)
class PiiConfig:
    key_env: str = "PMKT_PII_KEY"  # environment variable holding the HMAC key that pseudonymises name, email and phone
    allow_dev_key: bool = True  # local only; conf/cluster.yaml turns it off


@dataclass(frozen=True)
class GenerateConfig:
    seed: int = 42  # the synthetic world is deterministic for a seed
    customers: int = 12000  # customers in the synthetic world (events and orders grow with them)
    products: int = 400  # products in the catalogue
    segments: int = 4  # planted behavioural segments (truth.segments)
    start_date: str = "2025-01-01"  # first day of the generated history
    months: int = 15  # months of history
    landing: str = "data/generated"  # where the raw exports are written
    files_per_table: int = 4  # output files per large table
    bad_rows: bool = True  # plant broken rows of every kind ingest must quarantine (truth.bad_rows)
    plant_bias: bool = True  # one campaign's contacts under-select a group (truth.planted_bias)

    def __post_init__(self) -> None:
        if self.customers < 50:
            raise ConfigError("config key 'generate.customers' must be at least 50")
        if self.products < 40:
            raise ConfigError("config key 'generate.products' must be at least 40")
        if not 2 <= self.segments <= 6:
            raise ConfigError("config key 'generate.segments' must be between 2 and 6")
        if not 3 <= self.months <= 36:
            raise ConfigError("config key 'generate.months' must be between 3 and 36")


@dataclass(frozen=True)
class SourceConfig:
    """One input export: where it is, how to read it and how its columns map to the canonical ones."""

    path: str  # a file or folder; any Hadoop path
    format: str = "csv"  # csv | json | parquet | text (whitespace-separated, header on the first line)
    options: Mapping[str, str] = field(default_factory=_empty)  # reader options, e.g. sep, header
    columns: Mapping[str, str] = field(default_factory=_empty)  # canonical name -> source column
    extra: Mapping[str, str] = field(default_factory=_empty)  # extra source column -> type, kept in silver
    timestamp_format: str | None = None  # Spark datetime pattern; None: ISO 8601
    date_format: str | None = None  # Spark datetime pattern of date columns; None: ISO 8601
    # canonical column -> {source value: canonical value}, e.g. event type codes
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    extends_source: bool = False  # in a conf that extends another: merge with the inherited source of this name


@dataclass(frozen=True)
class IngestConfig:
    # entity -> its export: customers, products, events, transactions, ratings, campaigns, campaign_contacts
    sources: Mapping[str, SourceConfig] = field(default_factory=lambda: MappingProxyType({}))
    max_string_length: int = 512  # longer strings are quarantined as too_long
    future_tolerance_hours: int = 24  # timestamps later than now plus this are quarantined as future_timestamp
    event_types: tuple[str, ...] = schemas.EVENT_TYPES  # anything else is quarantined as unknown_event_type
    check_references: bool = True  # check product and campaign ids against their silver tables
    max_quarantine_share: float = 0.5  # more quarantined rows than this share fails the entity, nothing recorded
    reingest: tuple[str, ...] = ()  # `--reingest PATH|all`: forget these recorded files first, so they load again
    min_date: str = "1900-01-01"  # dates and timestamps outside [min_date, max_date] are quarantined (out_of_range)
    max_date: str = "2100-12-31"  # see min_date

    def __post_init__(self) -> None:
        for name, src in self.sources.items():
            _validate_source(name, src)
        if not 0 < self.max_quarantine_share <= 1:
            raise ConfigError("config key 'ingest.max_quarantine_share' must be in (0, 1]")
        if _iso_date(self.min_date, "ingest.min_date") >= _iso_date(self.max_date, "ingest.max_date"):
            raise ConfigError("config key 'ingest.min_date' must be before 'ingest.max_date'")


@dataclass(frozen=True)
class FeaturesConfig:
    cutoffs: tuple[str, ...] = ()  # ISO dates; empty: the day after the latest activity in silver
    windows: tuple[int, ...] = (30, 90, 365)  # activity windows in days (orders_, revenue_, events_<n>d)
    top_categories: int = 8  # categories kept in category_shares

    def __post_init__(self) -> None:
        for i, day in enumerate(self.cutoffs):
            _iso_date(day, f"features.cutoffs[{i}]")
        if sorted(self.windows) != list(self.windows) or not self.windows or min(self.windows) <= 0:
            raise ConfigError("config key 'features.windows' must be increasing positive day counts")


@dataclass(frozen=True)
class RfmRule:
    """A named RFM segment: the R and F score ranges (inclusive) it covers."""

    name: str  # the segment's name in gold.customer_profiles
    r: tuple[int, ...]  # [low, high] recency score, 1..5
    f: tuple[int, ...]  # [low, high] frequency score, 1..5

    def __post_init__(self) -> None:
        for key, span in (("r", self.r), ("f", self.f)):
            if len(span) != 2 or not 1 <= span[0] <= span[1] <= 5:
                raise ConfigError(f"rfm segment '{self.name}': '{key}' must be [low, high] within 1..5")


@dataclass(frozen=True)
class TagRule:
    """A profile tag: `when` is a Spark SQL condition over profile columns; `name` may use {column}."""

    name: str  # may use {column}, e.g. category lover:{top_category}
    when: str  # Spark SQL condition over the feature and RFM score columns


# The classic named RFM segments (first match wins); together they cover all 25 R x F cells.
RFM_SEGMENTS = (
    RfmRule("Champions", (5, 5), (4, 5)),
    RfmRule("Loyal", (3, 4), (4, 5)),
    RfmRule("Potential Loyalist", (4, 5), (2, 3)),
    RfmRule("New", (5, 5), (1, 1)),
    RfmRule("Promising", (4, 4), (1, 1)),
    RfmRule("Need Attention", (3, 3), (3, 3)),
    RfmRule("About to Sleep", (3, 3), (1, 2)),
    RfmRule("Can't Lose", (1, 2), (5, 5)),
    RfmRule("At Risk", (1, 2), (3, 4)),
    RfmRule("Hibernating", (2, 2), (1, 2)),
    RfmRule("Lost", (1, 1), (1, 2)),
)
PROFILE_TAGS = (
    TagRule("high value", "m_score = 5"),
    TagRule("bargain hunter", "aov_score = 1 AND frequency >= 2"),
    TagRule("lapsing", "r_score <= 2 AND f_score >= 3"),
    TagRule("category lover:{top_category}", "top_category_share >= 0.6 AND frequency >= 3"),
    TagRule("cart abandoner", "carts >= 3 AND cart_abandonment_rate >= 0.7"),
    TagRule("campaign responsive", "campaign_contacts >= 1 AND campaign_conversion_rate >= 0.5"),
)


@dataclass(frozen=True)
class ProfilesConfig:
    rfm_segments: tuple[RfmRule, ...] = RFM_SEGMENTS  # first match wins; empty: no named segments
    non_buyer_segment: str = "Prospect"  # the RFM segment of customers without orders
    tags: tuple[TagRule, ...] = PROFILE_TAGS  # `when` is Spark SQL over gold.customer_features and the RFM scores
    snapshot: str | None = None  # None: the latest snapshot in gold.customer_features

    def __post_init__(self) -> None:
        cells = {
            (r, f)
            for rule in self.rfm_segments
            for r in range(rule.r[0], rule.r[1] + 1)
            for f in range(rule.f[0], rule.f[1] + 1)
        }
        if self.rfm_segments and len(cells) != 25:
            raise ConfigError("config key 'profiles.rfm_segments' must cover all 25 R x F cells")
        if self.snapshot:
            _iso_date(self.snapshot, "profiles.snapshot")


@dataclass(frozen=True)
class SegmentConfig:
    mode: str = "fit"  # fit: choose k and fit; assign: reuse the latest saved model
    algorithm: str = "kmeans"  # kmeans | bisecting_kmeans | gaussian_mixture
    # Behaviour, not value: segments say how customers shop; RFM profiles say how much they are worth.
    features: tuple[str, ...] = (
        "sessions_per_month",
        "views_per_session",
        "conversion_rate",
        "price_index",
        "mobile_share",
    )
    # log1p-transformed before scaling (skewed money and counts)
    log_features: tuple[str, ...] = ("sessions_per_month", "views_per_session", "price_index")
    # shown in gold.segment_profiles, in original units
    profile_features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "price_index",
        "sessions_per_month",
        "views_per_session",
        "conversion_rate",
        "cart_abandonment_rate",
        "mobile_share",
    )
    k_min: int = 2  # the k range searched by silhouette
    k_max: int = 8  # see k_min
    selection_sample: float = 1.0  # fraction of customers used to choose k; the final fit uses all
    pca_components: int = 0  # 0: no PCA
    max_iter: int = 40  # iterations of the clusterer
    seed: int = 7  # seed of the clusterer and of the selection sample
    outlier_quantile: float = 0.99  # farther from its centre than this quantile of distances: is_outlier
    snapshot: str | None = None  # None: the latest snapshot in gold.customer_features

    def __post_init__(self) -> None:
        if self.mode not in ("fit", "assign"):
            raise ConfigError(f"config key 'segment.mode' must be fit or assign, got '{self.mode}'")
        if self.algorithm not in ("kmeans", "bisecting_kmeans", "gaussian_mixture"):
            raise ConfigError(
                "config key 'segment.algorithm' must be kmeans, bisecting_kmeans or gaussian_mixture, "
                f"got '{self.algorithm}'"
            )
        if not 2 <= self.k_min <= self.k_max <= 30:
            raise ConfigError("config keys 'segment.k_min' and 'segment.k_max' must satisfy 2 <= k_min <= k_max <= 30")
        if not 0 < self.selection_sample <= 1:
            raise ConfigError("config key 'segment.selection_sample' must be in (0, 1]")
        if not 0.5 < self.outlier_quantile < 1:
            raise ConfigError("config key 'segment.outlier_quantile' must be in (0.5, 1)")
        if not set(self.log_features) <= set(self.features):
            raise ConfigError("config key 'segment.log_features' must be a subset of segment.features")
        if self.snapshot:
            _iso_date(self.snapshot, "segment.snapshot")


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
    reason_names: Mapping[str, str] = field(default_factory=_empty)  # feature -> words; default: the name made human


@dataclass(frozen=True)
class ResponseConfig:
    # a contact's features: the customer's as of the campaign start
    numeric_features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary",
        "campaign_open_rate",
        "campaign_conversion_rate",
        "offer_category_share",
        "sessions_per_month",
    )
    categorical_features: tuple[str, ...] = ("channel", "offer_category")  # the contact's own columns
    reg_param: float = 0.01  # logistic regression's regularisation


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
    split: str = "auto"  # evaluation and tuning: auto | global_time | per_user_last | per_user_random
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
        if self.exclude not in ("seen", "consumed", "none"):
            raise ConfigError(f"config key 'recommend.exclude' must be seen, consumed or none, got '{self.exclude}'")
        if self.split not in SPLITS:
            raise ConfigError(f"config key 'recommend.split' must be one of {', '.join(SPLITS)}, got '{self.split}'")
        if not 0 < self.test_fraction < 1:
            raise ConfigError("config key 'recommend.test_fraction' must be in (0, 1)")


RECOMMEND_SOURCES = ("als", "itemcf", "content", "basket", "popular")
DEFAULT_WEIGHTS: dict[str, float] = {"als": 1.0, "itemcf": 0.5, "content": 0.1, "basket": 0.2, "popular": 0.05}
SPLITS = ("auto", "global_time", "per_user_last", "per_user_random")


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

    def __post_init__(self) -> None:
        if not 0 <= self.control_share < 1:
            raise ConfigError(f"campaign '{self.id}': control_share must be in [0, 1)")
        if self.budget < 0:
            raise ConfigError(f"campaign '{self.id}': budget must not be negative")
        bad = set(self.offer_types) - set(OFFER_TYPES)
        if bad:
            raise ConfigError(
                f"campaign '{self.id}': unknown offer type '{sorted(bad)[0]}' "
                f"(offer types are {', '.join(OFFER_TYPES)})"
            )


OFFER_TYPES = ("product", "cross_sell", "category")
TRIGGER_KINDS = ("cart_abandoned", "churn_risk_high", "birthday", "first_purchase")


@dataclass(frozen=True)
class TriggerRule:
    """An automation rule: `kind` is one of TRIGGER_KINDS; `hours`/`days` parameterise it."""

    name: str  # the rule's name in gold.actions
    kind: str  # cart_abandoned | churn_risk_high | birthday | first_purchase
    action: str  # what to do, e.g. send cart reminder
    channel: str = "email"  # channel of the action
    hours: int = 24  # cart_abandoned: no purchase within this many hours of the cart
    days: int = 7  # birthday: in the next `days`; cart_abandoned and first_purchase: look back `days`

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_KINDS:
            raise ConfigError(
                f"trigger '{self.name}': kind must be one of {', '.join(TRIGGER_KINDS)}, got '{self.kind}'"
            )


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
class ReportConfig:
    path: str | None = None  # default: <lake.root>/reports/index.html
    top_rules: int = 10  # association rules shown


@dataclass(frozen=True)
class ModelsConfig:
    """MLflow tracking and registry: every fit logs a run and registers a version; scoring loads one."""

    # MLflow tracking store. Default: $MLFLOW_TRACKING_URI if set, the workspace's on Databricks, else
    # SQLite at <lake.root>/mlflow/mlflow.db (a local lake root; set this for any other)
    tracking_uri: str | None = None
    registry_uri: str | None = None  # MLflow model registry; default: the tracking store
    experiment: str = "pmkt"  # MLflow experiment; on Databricks a name without a leading / goes under /Shared
    # registered model names are <prefix><model>, e.g. pmkt_churn; on Unity Catalog use "<catalog>.<schema>."
    name_prefix: str = "pmkt_"
    promote_alias: str = "champion"  # the alias a fit moves to its new version ("": leave aliases alone)
    alias: str = "champion"  # loading: the version with this alias (--model-alias), unless `version` is set
    version: int | None = None  # loading: this version number (--model-version)

    def __post_init__(self) -> None:
        if self.version is not None and self.version < 1:
            raise ConfigError(f"config key 'models.version' must be 1 or more, got {self.version}")
        if self.version is None and not self.alias:
            raise ConfigError("config key 'models.alias' is empty: set it or models.version")


QUALITY_RULES = (
    "not_null",
    "range",
    "unique",
    "accepted_values",
    "references",
    "freshness",
    "row_count_change",
    "mean_change",
)


@dataclass(frozen=True)
class Expectation:
    """One declarative data-quality rule on a table (`layer.name`); `max_share` of its rows may fail it."""

    table: str  # layer.name, e.g. silver.customers
    rule: str  # not_null | range | unique | accepted_values | references | freshness | row_count_change | mean_change
    column: str | None = None  # every rule but row_count_change names one
    min: float | None = None  # range
    max: float | None = None  # range
    values: tuple[str, ...] = ()  # accepted_values
    ref_table: str | None = None  # references: every value must exist in ref_table.ref_column
    ref_column: str | None = None  # references
    max_age_days: float | None = None  # freshness: the newest value of `column` is at most this old
    max_change: float | None = None  # row_count_change, mean_change: relative change against the last evaluation
    max_share: float = 0.0  # share of rows allowed to fail
    severity: str = "fail"  # fail stops the pipeline before the models; warn only reports

    def __post_init__(self) -> None:
        where = f"quality expectation {self.rule} on {self.table}"
        if self.rule not in QUALITY_RULES:
            raise ConfigError(f"{where}: rule must be one of {', '.join(QUALITY_RULES)}")
        if self.severity not in ("warn", "fail"):
            raise ConfigError(f"{where}: severity must be warn or fail, got '{self.severity}'")
        needs = {
            "range": self.min is not None or self.max is not None,
            "accepted_values": bool(self.values),
            "references": bool(self.ref_table and self.ref_column),
            "freshness": self.max_age_days is not None,
            "row_count_change": self.max_change is not None,
            "mean_change": self.max_change is not None,
        }
        if not needs.get(self.rule, True):
            raise ConfigError(f"{where}: missing its parameter (see docs/operations.md, data quality)")
        if self.rule != "row_count_change" and not self.column:
            raise ConfigError(f"{where}: needs a column")


DEFAULT_EXPECTATIONS = (
    Expectation("silver.customers", "unique", "customer_id"),
    Expectation("silver.products", "unique", "product_id"),
    Expectation("silver.products", "range", "price", min=0.0, max=100_000.0, max_share=0.01),
    Expectation("silver.order_lines", "range", "unit_price", min=0.0, max=100_000.0, max_share=0.01),
    Expectation("silver.order_lines", "mean_change", "unit_price", max_change=0.5),  # prices now in cents?
    Expectation("silver.order_lines", "row_count_change", max_change=0.9, severity="warn"),
    Expectation("silver.events", "row_count_change", max_change=0.9, severity="warn"),
)


@dataclass(frozen=True)
class QualityConfig:
    expectations: tuple[Expectation, ...] = DEFAULT_EXPECTATIONS  # data-quality rules on silver and gold tables
    psi_warn: float = 0.1  # population stability index between consecutive snapshots: warn, then alert
    psi_alert: float = 0.25  # see psi_warn
    drift_bins: int = 10  # bins of the PSI


@dataclass(frozen=True)
class FairnessConfig:
    """`pmkt fairness`: selection rates and error rates by protected or proxy group."""

    groups: tuple[str, ...] = ("gender", "age_band", "city")  # columns of gold.customer_features
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


@dataclass(frozen=True)
class ForgetConfig:
    """`pmkt forget`: erase customers everywhere (GDPR Art. 17). Raw emails and phones are pseudonymised first."""

    customer_ids: tuple[str, ...] = ()  # customers to erase, by id
    emails: tuple[str, ...] = ()  # or by raw email (pseudonymised before it is looked up)
    phones: tuple[str, ...] = ()  # or by raw phone (pseudonymised before it is looked up)
    # Files removed by the erasure stay on disk (and reachable by time travel) until VACUUM deletes them after
    # this many hours. 168 is Delta's safe default; 0 erases at once but breaks time travel to older versions
    # and any reader still on an older version.
    vacuum_retention_hours: float = 168.0
    model_policy: str = "flag"  # flag: record which model versions saw the customer, for retraining

    def __post_init__(self) -> None:
        if self.vacuum_retention_hours < 0:
            raise ConfigError("config key 'forget.vacuum_retention_hours' must be >= 0")
        if self.model_policy not in ("flag",):
            raise ConfigError(f"config key 'forget.model_policy' must be flag, got '{self.model_policy}'")


@dataclass(frozen=True)
class PipelineConfig:
    steps: tuple[str, ...] = ()  # empty: every step but generate (the synthetic data), in the pipeline's order

    def runs(self, step: str) -> bool:
        """Whether `pmkt pipeline` runs `step` under this config."""
        return step in self.steps if self.steps else step != "generate"


@dataclass(frozen=True)
class Config:
    lake: LakeConfig = field(default_factory=LakeConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    profiles: ProfilesConfig = field(default_factory=ProfilesConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    basket: BasketConfig = field(default_factory=BasketConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    propensity: PropensityConfig = field(default_factory=PropensityConfig)
    response: ResponseConfig = field(default_factory=ResponseConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    forget: ForgetConfig = field(default_factory=ForgetConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    fairness: FairnessConfig = field(default_factory=FairnessConfig)


def load_config(conf_file: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Load a conf file (default `$PMKT_CONF` or conf/local.yaml) and apply `key=value` overrides."""
    path = conf_file or os.environ.get("PMKT_CONF")
    if path is None and DEFAULT_CONF.is_file():
        path = DEFAULT_CONF
    data: dict[str, Any] = read_yaml(path, Config) if path is not None else {}
    for assignment in overrides:
        data = apply_override(Config, data, assignment)
    return build(Config, data)


def _iso_date(value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"config key '{key}' must be an ISO date (YYYY-MM-DD), got '{value}'") from None


def _validate_source(name: str, src: SourceConfig) -> None:
    where = f"ingest.sources.{name}"
    entity = schemas.ENTITIES.get(name)
    if entity is None:
        raise ConfigError(f"unknown config key '{where}' (sources are {', '.join(schemas.ENTITIES)})")
    if src.format not in READ_FORMATS:
        raise ConfigError(f"config key '{where}.format' must be one of {', '.join(READ_FORMATS)}, got '{src.format}'")
    for canonical in src.columns:
        if canonical not in entity.column_names:
            raise ConfigError(f"unknown config key '{where}.columns.{canonical}' (not a column of {name})")
    for column in (c for c in entity.columns if c.required and c.name not in src.columns):
        raise ConfigError(f"config key '{where}.columns' must map required column '{column.name}'")
    for key in (k for k in entity.keys if k not in src.columns and k not in entity.derived_keys):
        raise ConfigError(f"config key '{where}.columns' must map key column '{key}'")
    if name == "transactions" and "order_id" not in src.columns and not {"customer_id", "order_ts"} <= set(src.columns):
        raise ConfigError(f"config key '{where}.columns' must map order_id, or customer_id and order_ts")
    if name == "transactions" and "product_id" not in src.columns and not {"unit_price", "amount"} & set(src.columns):
        raise ConfigError(f"config key '{where}.columns' must map product_id or a price (unit_price or amount)")
    for extra, kind in src.extra.items():
        if kind not in schemas.EXTRA_TYPES:
            raise ConfigError(f"config key '{where}.extra.{extra}' must be one of {', '.join(schemas.EXTRA_TYPES)}")
        if extra in entity.column_names:
            raise ConfigError(f"config key '{where}.extra.{extra}' clashes with a canonical column")
    for canonical in src.values:
        if canonical not in entity.column_names:
            raise ConfigError(f"unknown config key '{where}.values.{canonical}'")
