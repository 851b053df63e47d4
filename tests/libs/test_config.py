from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pmkt.libs.conf_loader import build, read_yaml
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_local_conf_parses_into_typed_frozen_sections() -> None:
    config = load_config(CONF / "local.yaml")
    assert config.generate.customers == 12000
    assert (config.campaign.channels["sms"].capacity, config.campaign.campaigns[0].channels) == (1500, ("email", "sms"))
    assert (config.recommend.als.rank, config.recommend.weights["itemcf"]) == (32, 0.5)
    assert config.spark.options["spark.driver.memory"] == "4g"
    assert config.pipeline.steps[0] == "generate"
    assert config.ingest.sources["events"].columns["event_ts"] == "event_ts"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.generate.customers = 1  # type: ignore[misc]


def test_set_overrides_nested_keys_with_yaml_typing() -> None:
    config = load_config(
        CONF / "local.yaml",
        [
            "generate.customers=1234",
            "spark.options.spark.sql.shuffle.partitions=3",
            "ingest.sources.events.path=/x/y",
            "pipeline.steps=[ingest]",
            "lake.catalog=main",
        ],
    )
    assert config.generate.customers == 1234
    assert config.spark.options["spark.sql.shuffle.partitions"] == "3"
    assert config.ingest.sources["events"].path == "/x/y"
    assert config.pipeline.steps == ("ingest",)
    assert config.lake.catalog == "main"


def test_set_takes_a_value_that_is_not_yaml_as_typed() -> None:
    config = load_config(
        CONF / "local.yaml",
        ["ingest.sources.transactions.options.sep=|", "ingest.sources.transactions.decimal=,"],
    )
    source = config.ingest.sources["transactions"]
    assert (source.options["sep"], source.decimal, source.thousands) == ("|", ",", None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["generate.customerz=5"], "unknown config key 'generate.customerz'"),
        (["nope.x=1"], "unknown config key 'nope'"),
        (["generate.customers=many"], "config key 'generate.customers' expects int, got str"),
        (["pii.allow_dev_key=1"], "config key 'pii.allow_dev_key' expects bool"),
        (["spark.options.sql.shuffle.partitions=2"], "spark.options.sql.shuffle.partitions"),
        (["ingest.sources.events.format=xlsx"], "config key 'ingest.sources.events.format' must be one of"),
        (["ingest.sources.events.columns.colour=c"], "unknown config key 'ingest.sources.events.columns.colour'"),
        (["ingest.sources.orders.path=/x"], "unknown config key 'ingest.sources.orders'"),
        (["generate.segments=9"], "'generate.segments' must be between 2 and 6"),
        (["generate.customers"], "--set expects key=value"),
        (["churn.gbt_trees=0"], "churn.gbt_trees and churn.gbt_max_depth must be at least 1"),
        (
            ["ingest.sources.events.lookups=[{path: /x, key: session_id, format: xlsx}]"],
            "config key 'ingest.sources.events.lookups[0].format' must be one of csv, json, parquet, text: 'xlsx'",
        ),
        (["ingest.sources.events.lookups=[{path: /x}]"], "lookups[0]': LookupConfig.__init__() missing 1 required"),
        (["ingest.sources.events.decimal=;"], "config key 'ingest.sources.events.decimal' must be '.' or ','"),
        (
            ["ingest.sources.events.decimal=,", "ingest.sources.events.thousands=,"],
            "config key 'ingest.sources.events.thousands' must be ',', '.', an apostrophe or a space",
        ),
        (
            ["ingest.sources.events.timestamp_format=weeks since 2020-01-01"],
            "config key 'ingest.sources.events.timestamp_format' must read '<days|hours|minutes|seconds> since",
        ),
        (
            ["ingest.sources.events.date_format=days since 2020-13-01"],
            "config key 'ingest.sources.events.date_format' must be an ISO date (YYYY-MM-DD), got '2020-13-01'",
        ),
    ],
)
def test_bad_config_names_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(CONF / "local.yaml", overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_source_must_map_required_columns(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(
        "ingest:\n  sources:\n    transactions:\n      path: x\n      columns: {customer_id: c, quantity: q, "
        "product_id: p}\n"
    )
    with pytest.raises(ConfigError, match="must map order_id, or customer_id and order_ts"):
        load_config(conf)
    conf.write_text("ingest:\n  sources:\n    events:\n      path: x\n      columns: {customer_id: c, event_ts: t}\n")
    with pytest.raises(ConfigError, match="must map required column 'event_type'"):
        load_config(conf)


def test_missing_file_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*absent.yaml"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("lake: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(broken)


def test_extends_merges_and_null_drops_inherited_sources() -> None:
    config = load_config(CONF / "cdnow.yaml")
    assert set(config.ingest.sources) == {"transactions"}
    # A column map is replaced whole: nothing of local.yaml's transactions columns leaks in.
    assert dict(config.ingest.sources["transactions"].columns) == {
        "customer_id": "customer_id",
        "order_ts": "date",
        "quantity": "number_of_cds",
        "amount": "dollar_value",
    }
    assert config.ingest.max_string_length == 512  # the code's default
    assert config.lake.root == "lakehouse_cdnow"


def test_a_user_source_replaces_the_inherited_one_whole_unless_it_asks_to_extend(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text((CONF / "local.yaml").read_text())
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "extends: local.yaml\ningest:\n  sources:\n    transactions:\n      path: baskets.csv\n"
        "      columns: {order_id: Invoice, product_id: StockCode}\n"
    )
    source = load_config(mine).ingest.sources["transactions"]
    # local.yaml's transactions set timestamp_format and recursiveFileLookup: none of it is inherited.
    assert (source.path, source.timestamp_format, dict(source.options)) == ("baskets.csv", None, {})
    mine.write_text(
        "extends: local.yaml\ningest:\n  sources:\n    transactions:\n      extends_source: true\n      path: b.csv\n"
    )
    source = load_config(mine).ingest.sources["transactions"]
    assert (source.path, source.timestamp_format, source.columns["line_id"]) == (
        "b.csv",
        "yyyy-MM-dd HH:mm:ss",
        "line_id",
    )


def test_extends_errors_name_the_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\n")
    b.write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extend each other in a cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(a)
    b.write_text("extends: ../nowhere/base.yaml\n")
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere/base.yaml \(extended by .*b.yaml\)"):
        load_config(a)
    a.write_bytes(b"lake: {root: \xff}\n")
    with pytest.raises(ConfigError, match="a.yaml is not UTF-8 text"):
        load_config(a)


def test_cluster_conf_requires_a_real_key_and_leaves_master_to_spark_submit() -> None:
    config = load_config(CONF / "cluster.yaml")
    assert config.pii.allow_dev_key is False
    assert config.spark.master is None
    assert config.spark.options["spark.sql.shuffle.partitions"] == "200"


def _overridden(default: Any, loaded: Any, raw: Mapping[str, Any], path: str) -> Iterator[tuple[str, bool]]:
    """(key, differs from the code default) for every key local.yaml sets, descending into sections."""
    for key, value in raw.items():
        here, base, mine = f"{path}{key}", getattr(default, key), getattr(loaded, key)
        if isinstance(value, dict) and dataclasses.is_dataclass(base):
            yield from _overridden(base, mine, value, here + ".")
        else:
            yield here, base != mine


def test_local_conf_holds_only_overrides_of_the_code_defaults() -> None:
    """The dataclasses hold every default; a key in local.yaml is there because the demo changes it."""
    raw = read_yaml(CONF / "local.yaml", Config)
    keys = dict(_overridden(build(Config, {}), load_config(CONF / "local.yaml"), raw, ""))
    assert [k for k, differs in keys.items() if not differs] == []
    assert {"basket.min_support", "recommend.candidates", "pipeline.steps"} <= set(keys)


def test_the_default_pipeline_runs_every_step_but_generate() -> None:
    steps = build(Config, {}).pipeline
    assert (steps.runs("generate"), steps.runs("ingest"), steps.runs("report")) == (False, True, True)
    chosen = build(Config, {"pipeline": {"steps": ["ingest", "churn"]}}).pipeline
    assert (chosen.runs("churn"), chosen.runs("propensity")) == (True, False)
