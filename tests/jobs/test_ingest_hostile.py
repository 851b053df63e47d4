"""A hostile export: no raw PII anywhere on disk or in the log, every bad value quarantined, counts that add up."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import ingest
from pmkt.libs import tables
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake

# Every value a person could be identified by. None may appear in a table, a data file, the log or an error.
PII = (
    "Ann Lee",
    "ann@example.org",
    "+44 1234 567890",
    "Smith",
    "smith@example.org",
    "+44 777 123456",
    "020 7946 0991",
    "020 7946 0992",
    "Multi",
    "multi@example.org",
    "+1 555 010 999",
)
NOTE = "n" * 100_000
CUSTOMERS = (
    b"customer_id,name,email,phone,birth_date,signup_date,landline,note\n"
    b"C1,Ann Lee,ann@example.org,+44 1234 567890,1980-01-02,2020-01-01,020 7946 0991,ok\n"
    # An unquoted comma in the name: every later field shifts one place to the right.
    b"C2,Smith, John,smith@example.org,+44 777 123456,1970-03-04,2020-01-01,020 7946 0992,\n"
    # A quoted field with a line break (needs multiLine).
    b'C3,"Multi\nLine",multi@example.org,+1 555 010 999,1990-01-01,2020-01-01,,\n'
    b"C4,,,,9999-01-01,2020-01-01,,\n"
    b"C5,,,,1980-01-01,0001-01-01,,\n"
    b"C\xff6,,,,1980-01-01,2020-01-01,,\n"
    b"C7,,,,1980-01-01,2020-01-01,," + NOTE.encode() + b"\n"
)
ORDERS = """order_id,line_id,customer_id,order_ts,product_id,quantity,unit_price
O1,1,C1,2024-05-01 10:00:00,P1,1,10.0
O2,1,C1,2024-05-01 11:00:00,P1,1,NaN
O3,1,C1,2024-05-01 12:00:00,P1,1,Infinity
O4,1,C1,2024-05-01 13:00:00,P1,2,1.7e308
O5,1,C1,0001-01-01 00:00:00,P1,1,10.0
O6,1,C1,1850-06-01 00:00:00,P1,1,10.0
"""


def _config(tmp_path: Path) -> Config:
    conf = tmp_path / "hostile.yaml"
    conf.write_text(f"""lake:
  root: {tmp_path / "lake"}
ingest:
  check_references: false
  sources:
    customers:
      path: {tmp_path / "customers.csv"}
      columns: {{customer_id: customer_id, name: name, email: email, phone: phone, birth_date: birth_date,
                 signup_date: signup_date}}
      extra: {{note: string}}
    transactions:
      path: {tmp_path / "orders.csv"}
      columns: {{order_id: order_id, line_id: line_id, customer_id: customer_id, order_ts: order_ts,
                 product_id: product_id, quantity: quantity, unit_price: unit_price}}
""")
    return load_config(conf)


def _strings_in_lake(root: Path) -> str:
    """Every string in every data file (read with pyarrow, so compression can't hide one) and every log file."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            found.append(str(table.to_pylist()))
        else:  # _delta_log JSON commits and .crc files: statistics are written there in clear text
            found.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(found)


@pytest.fixture(scope="module")
def hostile(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, list, str]:
    tmp_path = tmp_path_factory.mktemp("hostile")
    (tmp_path / "customers.csv").write_bytes(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    config = _config(tmp_path)
    handler = _Capture()
    logging.getLogger("pmkt").addHandler(handler)
    try:
        # Half the customers are bad: raise the share so the run goes through and everything is inspectable.
        from dataclasses import replace

        config = replace(config, ingest=replace(config.ingest, max_quarantine_share=0.9))
        reports = ingest.run(spark, config)
    finally:
        logging.getLogger("pmkt").removeHandler(handler)
    return config, reports, "\n".join(handler.lines)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_no_raw_pii_in_any_table_file_delta_log_or_log_line(spark: SparkSession, hostile: tuple) -> None:
    config, _, log_text = hostile
    on_disk = _strings_in_lake(Path(config.lake.root))
    assert "C7" in on_disk  # the scan does see stored values
    leaked = [v for v in PII if v in on_disk or v in log_text]
    assert leaked == []


def test_every_bad_value_is_quarantined_with_its_reason(spark: SparkSession, hostile: tuple) -> None:
    config, _, _ = hostile
    lake = Lake(spark, config.lake)
    quarantine = {(r.entity, r.reason, r.detail.split(" ")[0]) for r in lake.read(tables.QUARANTINE).collect()}
    assert quarantine == {
        ("customers", "malformed", "line"),  # the shifted line
        ("customers", "malformed", "an"),  # "an unclosed quote ... multiLine", twice (both halves)
        ("customers", "out_of_range", "birth_date"),
        ("customers", "out_of_range", "signup_date"),
        ("customers", "invalid_text", "customer_id"),
        ("customers", "too_long", "note"),
        ("transactions", "invalid_number", "unit_price"),  # NaN and Infinity
        ("transactions", "invalid_number", "quantity"),  # 1e308 x 1e308 overflows
        ("transactions", "out_of_range", "order_ts"),  # years 0001 and 1850
    }
    customers = sorted(r.customer_id for r in lake.read(tables.SILVER["customers"]).collect())
    assert customers == ["C1"]
    orders = [r.order_id for r in lake.read(tables.SILVER["transactions"]).collect()]
    assert orders == ["O1"]
    # The year-0001 row would make the silver table unreadable to pyarrow-based readers: it must not be there.
    for part in (Path(config.lake.root) / "silver" / "order_lines").glob("*.parquet"):
        pq.read_table(part).to_pylist()


def test_counts_add_up_measured_independently(spark: SparkSession, hostile: tuple, tmp_path: Path) -> None:
    config, reports, _ = hostile
    by_entity = {r.entity: r for r in reports}
    c, t = by_entity["customers"], by_entity["transactions"]
    assert (c.input, c.inserted, c.quarantined, c.unchanged) == (8, 1, 7, 0)
    assert (t.input, t.inserted, t.quarantined, t.unchanged) == (6, 1, 5, 0)
    # A new file whose only good row is already stored unchanged: a MERGE with nothing to do makes no commit,
    # so reading "the last commit" would report the previous run's insert.
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "orders.csv").write_text(ORDERS.splitlines()[0] + "\n" + ORDERS.splitlines()[1] + "\n")
    src = config.ingest.sources["transactions"]
    from dataclasses import replace

    only_orders = replace(
        config, ingest=replace(config.ingest, sources={"transactions": replace(src, path=str(tmp_path / "again"))})
    )
    [again] = ingest.run(spark, only_orders)
    assert (again.input, again.inserted, again.updated, again.unchanged) == (1, 0, 0, 1)


def test_latest_row_per_key_wins_by_file_then_line(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    older, newer = folder / "a-new-name-sorting-first.csv", folder / "b.csv"
    newer.write_text("customer_id,city\nK1,Leeds\nK2,York\nK2,Bath\n")
    older.write_text("customer_id,city\nK1,Hull\nK3,Ely\n")
    os.utime(older, (1_600_000_000, 1_600_000_000))  # older by modification time, though its name sorts first
    conf = tmp_path / "c.yaml"
    conf.write_text(
        f"lake:\n  root: {tmp_path / 'lake'}\ningest:\n  sources:\n    customers:\n"
        f"      path: {folder}\n      columns: {{customer_id: customer_id, city: city}}\n"
    )
    config = load_config(conf)
    [report] = ingest.run(spark, config)
    cities = {r.customer_id: r.city for r in Lake(spark, config.lake).read(tables.SILVER["customers"]).collect()}
    assert cities == {"K1": "Leeds", "K2": "Bath", "K3": "Ely"}
    assert (report.input, report.inserted, report.duplicates) == (5, 3, 2)


def test_a_missing_header_never_echoes_personal_data(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(CUSTOMERS.split(b"\n", 1)[1])
    config = _config(tmp_path)
    with pytest.raises(UserError) as caught:
        ingest.run(spark, config)
    message = str(caught.value)
    assert "has no column 'customer_id'" in message and "header row missing" in message
    assert [v for v in PII if v in message] == []
    assert "\n" not in message


def test_quarantined_lines_of_personal_data_keep_only_hashes(spark: SparkSession, hostile: tuple) -> None:
    config, _, _ = hostile
    lake = Lake(spark, config.lake)
    shifted = lake.read(tables.BRONZE["customers"]).where(F.col("_corrupt_record").isNotNull())
    row = shifted.where(F.col("_parse_note") == "line does not parse").first()
    assert row.customer_id != "C2" and len(row.customer_id) == 64  # a keyed hash, not the raw field
    assert row.birth_date is not None and len(row.birth_date) == 64
    assert row._corrupt_record.startswith("redacted line, hmac=")
