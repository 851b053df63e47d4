"""The platform's configuration: frozen dataclasses built from `conf/*.yaml` plus `--set` overrides.

Each section lives in the module of its domain; every name is importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmkt.libs.conf_loader import apply_override, build, read_yaml
from pmkt.libs.config.campaigns import (
    OFFER_TYPES,
    TEMPLATES,
    TRIGGER_KINDS,
    AudienceRule,
    CampaignConfig,
    CampaignSpec,
    ChannelConfig,
    FairnessConfig,
    TriggerRule,
)
from pmkt.libs.config.customers import (
    PROFILE_TAGS,
    RFM_SEGMENTS,
    FeaturesConfig,
    ProfilesConfig,
    RfmRule,
    SegmentConfig,
    TagRule,
)
from pmkt.libs.config.data import (
    DEFAULT_EXPECTATIONS,
    EPOCH_FORMATS,
    QUALITY_RULES,
    READ_FORMATS,
    SINCE_FORMAT,
    SINCE_UNITS,
    Expectation,
    ForgetConfig,
    GenerateConfig,
    IngestConfig,
    LookupConfig,
    QualityConfig,
    SourceConfig,
)
from pmkt.libs.config.models import (
    CHURN_REASONS,
    DEFAULT_WEIGHTS,
    RECOMMEND_SOURCES,
    SPLITS,
    AlsConfig,
    AttributionConfig,
    BasketConfig,
    ChurnConfig,
    ClvConfig,
    CtrConfig,
    PropensityConfig,
    RecommendConfig,
    ResponseConfig,
    UpliftConfig,
)
from pmkt.libs.config.platform import (
    LakeConfig,
    ModelsConfig,
    PiiConfig,
    PipelineConfig,
    ReportConfig,
    ServeConfig,
    SparkConfig,
    StreamConfig,
)

__all__ = [
    "AlsConfig",
    "AttributionConfig",
    "AudienceRule",
    "BasketConfig",
    "CHURN_REASONS",
    "CampaignConfig",
    "CampaignSpec",
    "ChannelConfig",
    "ChurnConfig",
    "ClvConfig",
    "CtrConfig",
    "Config",
    "DEFAULT_CONF",
    "DEFAULT_EXPECTATIONS",
    "DEFAULT_WEIGHTS",
    "EPOCH_FORMATS",
    "Expectation",
    "FairnessConfig",
    "FeaturesConfig",
    "ForgetConfig",
    "GenerateConfig",
    "IngestConfig",
    "LakeConfig",
    "ModelsConfig",
    "OFFER_TYPES",
    "PROFILE_TAGS",
    "PiiConfig",
    "PipelineConfig",
    "ProfilesConfig",
    "PropensityConfig",
    "QUALITY_RULES",
    "QualityConfig",
    "READ_FORMATS",
    "RECOMMEND_SOURCES",
    "RFM_SEGMENTS",
    "RecommendConfig",
    "ReportConfig",
    "ResponseConfig",
    "RfmRule",
    "SINCE_FORMAT",
    "SINCE_UNITS",
    "SPLITS",
    "SegmentConfig",
    "ServeConfig",
    "LookupConfig",
    "SourceConfig",
    "SparkConfig",
    "StreamConfig",
    "TEMPLATES",
    "TRIGGER_KINDS",
    "TagRule",
    "TriggerRule",
    "UpliftConfig",
    "load_config",
]

DEFAULT_CONF = Path("conf/local.yaml")


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
    ctr: CtrConfig = field(default_factory=CtrConfig)
    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    clv: ClvConfig = field(default_factory=ClvConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    forget: ForgetConfig = field(default_factory=ForgetConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    fairness: FairnessConfig = field(default_factory=FairnessConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)


def load_config(conf_file: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Load a conf file (default `$PMKT_CONF` or conf/local.yaml) and apply `key=value` overrides."""
    path = conf_file or os.environ.get("PMKT_CONF")
    if path is None and DEFAULT_CONF.is_file():
        path = DEFAULT_CONF
    data: dict[str, Any] = read_yaml(path, Config) if path is not None else {}
    for assignment in overrides:
        data = apply_override(Config, data, assignment)
    return build(Config, data)
