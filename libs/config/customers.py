"""Customer 360: feature snapshots, RFM profiles and segmentation."""

from __future__ import annotations

from dataclasses import dataclass

from pmkt.libs.config.base import iso_date
from pmkt.libs.errors import ConfigError


@dataclass(frozen=True)
class FeaturesConfig:
    cutoffs: tuple[str, ...] = ()  # ISO dates; empty: the day after the latest activity in silver
    windows: tuple[int, ...] = (30, 90, 365)  # activity windows in days (orders_, revenue_, events_<n>d)
    top_categories: int = 8  # categories kept in category_shares

    def __post_init__(self) -> None:
        for i, day in enumerate(self.cutoffs):
            iso_date(day, f"features.cutoffs[{i}]")
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
            iso_date(self.snapshot, "profiles.snapshot")


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
    # Used instead when fewer than two of segment.features have data (an export without a clickstream): RFM and the
    # order value are then all the behaviour there is.
    fallback_features: tuple[str, ...] = ("recency_days", "frequency", "monetary", "avg_order_value")
    # log1p-transformed before scaling when segmented on (skewed money and counts)
    log_features: tuple[str, ...] = (
        "sessions_per_month",
        "views_per_session",
        "price_index",
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
    )
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
        if self.snapshot:
            iso_date(self.snapshot, "segment.snapshot")
