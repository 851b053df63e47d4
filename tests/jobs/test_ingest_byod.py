"""Bring-your-own-data ingest: foreign column names and formats through the column map, exact outputs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import ingest
from pmkt.libs import tables
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake

FOREIGN_ORDERS = """Kunde;Bestellnr;Datum;Artikel;Menge;Preis;Filiale
K-1;B100;03.02.2025 14:05;A-9;2;9.99;Berlin
K-1;B100;03.02.2025 14:05;A-7;1;120.00;Berlin
K-2;B101;04.02.2025 09:00;A-9;1;9.99;Hamburg
K-3;;05.02.2025 10:00;A-9;1;9.99;Hamburg
K-4;B102;06.02.2025 10:00;A-9;-1;9.99;Koeln
K-5;B103;31.02.2025 10:00;A-9;1;9.99;Koeln
K-2;B101;04.02.2025 09:00;A-9;1;9.99;Hamburg
"""

CDNOW_LIKE = """ customer_id  date number_of_cds  dollar_value\r
 00001 19970101  1   11.77\r
 00002 19970112  1   12.00\r
 00002 19970112  5   77.00\r
 00003 19970102  2   20.76\r
 00003 19970102  2   20.76\r
 00004 1997013x  1    5.00\r
 00005 19970105  3\r
"""


def _config(tmp_path: Path, sources: str) -> Config:
    conf = tmp_path / "byod.yaml"
    conf.write_text(f"lake:\n  root: {tmp_path / 'lake'}\ningest:\n  check_references: false\n  sources:\n{sources}")
    return load_config(conf)


def test_foreign_csv_through_the_column_map(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "export.csv").write_text(FOREIGN_ORDERS)
    config = _config(
        tmp_path,
        f"""    transactions:
      path: {tmp_path / "orders"}
      format: csv
      options: {{sep: ";"}}
      timestamp_format: dd.MM.yyyy HH:mm
      columns: {{customer_id: Kunde, order_id: Bestellnr, order_ts: Datum, product_id: Artikel, quantity: Menge,
                unit_price: Preis}}
      extra: {{Filiale: string}}
""",
    )
    [report] = ingest.run(spark, config)
    lake = Lake(spark, config.lake)
    silver = lake.read(tables.SILVER["transactions"]).select(
        "order_id", "customer_id", "order_ts", "product_id", "quantity", "unit_price", "amount", "Filiale"
    )
    ts = dt.datetime
    # The last line repeats B101's line: without line ids, identical lines in one file are two purchases.
    expected = spark.createDataFrame(
        [
            ("B100", "K-1", ts(2025, 2, 3, 14, 5), "A-9", 2, 9.99, 19.98, "Berlin"),
            ("B100", "K-1", ts(2025, 2, 3, 14, 5), "A-7", 1, 120.0, 120.0, "Berlin"),
            ("B101", "K-2", ts(2025, 2, 4, 9, 0), "A-9", 1, 9.99, 9.99, "Hamburg"),
            ("B101", "K-2", ts(2025, 2, 4, 9, 0), "A-9", 1, 9.99, 9.99, "Hamburg"),
        ],
        "order_id string, customer_id string, order_ts timestamp, product_id string, quantity int, unit_price "
        "double, amount double, Filiale string",
    )
    assert_df_equality(silver, expected, ignore_row_order=True, ignore_nullable=True)
    reasons = {r.reason for r in lake.read(tables.QUARANTINE).collect()}
    assert reasons == {"null_key", "negative_value", "wrong_type"}
    assert (report.input, report.inserted, report.quarantined, report.duplicates) == (7, 4, 3, 0)


def test_cdnow_shaped_text_without_order_or_product_ids(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "CDNOW_master.txt").write_text(CDNOW_LIKE)
    config = _config(
        tmp_path,
        f"""    transactions:
      path: {tmp_path / "CDNOW_master.txt"}
      format: text
      timestamp_format: yyyyMMdd
      columns: {{customer_id: customer_id, order_ts: date, quantity: number_of_cds, amount: dollar_value}}
""",
    )
    [report] = ingest.run(spark, config)
    lake = Lake(spark, config.lake)
    silver = lake.read(tables.SILVER["transactions"])
    rows = sorted((r.customer_id, r.order_ts.date(), r.quantity, r.amount, r.unit_price) for r in silver.collect())
    assert rows == [
        ("00001", dt.date(1997, 1, 1), 1, 11.77, 11.77),
        ("00002", dt.date(1997, 1, 12), 1, 12.0, 12.0),
        ("00002", dt.date(1997, 1, 12), 5, 77.0, 15.4),
        ("00003", dt.date(1997, 1, 2), 2, 20.76, 10.38),
        ("00003", dt.date(1997, 1, 2), 2, 20.76, 10.38),  # two identical lines are two purchases
    ]
    assert silver.where(F.col("customer_id") == "00002").select("order_id").distinct().count() == 1
    assert silver.select("order_id").distinct().count() == 3
    assert {(r.reason, r.raw) for r in lake.read(tables.QUARANTINE).select("reason", "raw").collect()} >= {
        ("malformed", " 00005 19970105  3")
    }
    assert (report.input, report.inserted, report.quarantined, report.duplicates) == (7, 5, 2, 0)


def test_new_file_only_adds_new_rows_and_pii_stays_out_of_logs(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "people"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "id,mail,tel,first_seen\n1,ann@corp.example,+1 555 0100,2024-01-02\n2,bob@corp.example,,2024-02-03\n"
    )
    config = _config(
        tmp_path,
        f"""    customers:
      path: {folder}
      date_format: yyyy-MM-dd
      columns: {{customer_id: id, email: mail, phone: tel, signup_date: first_seen}}
""",
    )
    caplog.set_level(logging.DEBUG)
    [first] = ingest.run(spark, config)
    (folder / "b.csv").write_text(
        "id,mail,tel,first_seen\n2,bob@new.example,,2024-02-03\n3,cy@corp.example,,2024-03-04\n"
        "1,ann@corp.example,+1 555 0100,2024-01-02\n"
    )
    [second] = ingest.run(spark, config)
    assert (first.input, first.inserted) == (2, 2)
    assert (second.input, second.inserted, second.updated, second.unchanged) == (3, 1, 1, 1)
    silver = Lake(spark, config.lake).read(tables.SILVER["customers"])
    assert {(r.customer_id, r.email_domain) for r in silver.collect()} == {
        ("1", "corp.example"),
        ("2", "new.example"),
        ("3", "corp.example"),
    }
    assert "ann@corp.example" not in caplog.text and "555 0100" not in caplog.text


def test_missing_path_and_empty_input_are_user_errors(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f"    events:\n      path: {tmp_path / 'absent'}\n      format: json\n"
        "      columns: {customer_id: c, event_type: t, event_ts: ts}\n",
    )
    with pytest.raises(UserError, match="input path for source 'events' not found"):
        ingest.run(spark, config)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "e.csv").write_text("c,t,ts\n")
    config = _config(
        tmp_path,
        f"    events:\n      path: {tmp_path / 'empty'}\n"
        "      columns: {customer_id: c, event_type: t, event_ts: ts}\n",
    )
    with pytest.raises(UserError, match="source 'events' at .* has no rows"):
        ingest.run(spark, config)
    (tmp_path / "empty" / "e.csv").write_text("x,y\n1,2\n")
    with pytest.raises(UserError, match="source 'events' has no column 'c' \\(found: x, y\\)"):
        ingest.run(spark, config)


def test_identical_lines_survive_and_a_renamed_copy_adds_nothing(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "cdnow"
    folder.mkdir()
    (folder / "part-1.txt").write_text(CDNOW_LIKE)
    config = _config(
        tmp_path,
        f"""    transactions:
      path: {folder}
      format: text
      timestamp_format: yyyyMMdd
      columns: {{customer_id: customer_id, order_ts: date, quantity: number_of_cds, amount: dollar_value}}
""",
    )
    [first] = ingest.run(spark, config)
    (folder / "part-1 (copy).txt").write_text(CDNOW_LIKE)
    [second] = ingest.run(spark, config)
    silver = Lake(spark, config.lake).read(tables.SILVER["transactions"])
    revenue = silver.agg(F.sum("amount")).first()[0]
    # The file's five parseable lines, the two identical 20.76 lines included, to the cent.
    assert round(revenue, 2) == round(11.77 + 12.00 + 77.00 + 20.76 + 20.76, 2)
    assert (first.inserted, second.input, second.inserted, second.unchanged) == (5, 7, 0, 5)


ISO_ORDERS = (
    "order,customer,ts,item,price\nO1,C1,2025-02-03 14:05,A-9,9.99\n"
    "O2,C2,2025-02-04 09:00,A-7,120.00\nO2,C2,2025-02-04 09:00,A-9,9.99\n"
)


def _orders_config(tmp_path: Path, folder: Path, ts_format: str) -> Config:
    return _config(
        tmp_path,
        f"""    transactions:
      path: {folder}
      timestamp_format: "{ts_format}"
      columns: {{order_id: order, customer_id: customer, order_ts: ts, product_id: item, unit_price: price}}
""",
    )


def test_a_mostly_quarantined_source_fails_records_nothing_and_loads_after_a_fix(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "orders.csv").write_text(ISO_ORDERS)
    wrong = _orders_config(tmp_path, folder, "dd.MM.yyyy HH:mm")
    with pytest.raises(UserError) as err:
        ingest.run(spark, wrong)
    message = str(err.value)
    assert (
        "3 of 3 rows (100%) would be quarantined" in message
        and "wrong_type (order_ts is not a timestamp) x3" in message
    )
    assert "\n" not in message
    lake = Lake(spark, wrong.lake)
    assert not lake.exists(tables.INGESTED_FILES) and not lake.exists(tables.BRONZE["transactions"])

    [fixed] = ingest.run(spark, _orders_config(tmp_path, folder, "yyyy-MM-dd HH:mm"))
    assert (fixed.input, fixed.inserted, fixed.quarantined) == (3, 3, 0)
    again = ingest.run(spark, _orders_config(tmp_path, folder, "yyyy-MM-dd HH:mm"))
    assert again == []  # recorded: nothing new
    forced = load_config(tmp_path / "byod.yaml", [f"ingest.reingest=['{folder}']"])
    [reread] = ingest.run(spark, forced)
    assert (reread.input, reread.inserted, reread.unchanged) == (3, 0, 3)
    assert lake.read(tables.SILVER["transactions"]).count() == 3


GERMAN_ORDERS = """Kunde;Bestellnr;Datum;Artikel;Menge;Preis
K-1;B100;03.02.2025 14:05;A-9;2;9,99
K-1;B100;03.02.2025 14:05;A-7;1;1.234,50
K-2;B101;04.02.2025 09:00;A-9;1.000;0,5
K-2;B101;04.02.2025 09:00;A-8;3;,75
K-3;B102;05.02.2025 10:00;A-9;1;12.50
K-3;B102;05.02.2025 10:00;A-7;1;1.23,4
K-4;B103;06.02.2025 10:00;A-9;2,5;1,00
"""


def _german_config(tmp_path: Path, folder: Path, marks: str) -> Config:
    return _config(
        tmp_path,
        f"""    transactions:
      path: {folder}
      options: {{sep: ";"}}
      timestamp_format: dd.MM.yyyy HH:mm
{marks}      columns: {{customer_id: Kunde, order_id: Bestellnr, order_ts: Datum, product_id: Artikel, quantity: Menge,
                unit_price: Preis}}
""",
    )


def test_decimal_commas_and_grouped_thousands_are_read_as_written_or_quarantined(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "export.csv").write_text(GERMAN_ORDERS)
    # Read with Spark's own marks, six of the seven prices and quantities are not numbers: the error says how
    # numbers were read, and nothing is recorded.
    with pytest.raises(UserError) as err:
        ingest.run(spark, _german_config(tmp_path, folder, ""))
    assert "6 of 7 rows (86%) would be quarantined" in str(err.value)
    assert "wrong_type (unit_price is not a double with decimal mark '.') x5" in str(err.value)

    config = _german_config(tmp_path, folder, '      decimal: ","\n      thousands: "."\n')
    [report] = ingest.run(spark, config)
    lake = Lake(spark, config.lake)
    silver = lake.read(tables.SILVER["transactions"]).select("order_id", "product_id", "quantity", "unit_price")
    expected = spark.createDataFrame(
        [("B100", "A-9", 2, 9.99), ("B100", "A-7", 1, 1234.5), ("B101", "A-9", 1000, 0.5), ("B101", "A-8", 3, 0.75)],
        "order_id string, product_id string, quantity int, unit_price double",
    )
    assert_df_equality(silver, expected, ignore_row_order=True, ignore_nullable=True)
    # "12.50" has no decimal comma and "1.23,4" groups wrongly: quarantined, not read as 1250 or 123.4.
    stored = lake.read(tables.QUARANTINE).where(F.col("entity") == "transactions")
    quarantined = {(r.reason, r.detail) for r in stored.select("reason", "detail").collect()}  # three rows
    marks = "with decimal mark ',' and thousands mark '.'"
    assert quarantined == {
        ("wrong_type", f"unit_price is not a double {marks}"),
        ("wrong_type", f"quantity is not an int {marks}"),
    }
    assert (report.input, report.inserted, report.quarantined) == (7, 4, 3)


PRETTY_EVENTS = [
    {"id": "E1", "user": "C1", "item": "P1", "type": "view", "ts": "2025-02-03T10:00:00"},
    {"id": "E2", "user": "C1", "item": "P2", "type": "purchase", "ts": "2025-02-03T10:05:00"},
]


def _events_config(tmp_path: Path, folder: Path, options: str) -> Config:
    return _config(
        tmp_path,
        f"""    events:
      path: {folder}
      format: json
      options: {{{options}}}
      columns: {{event_id: id, customer_id: user, product_id: item, event_type: type, event_ts: ts}}
""",
    )


def test_a_pretty_printed_json_export_says_to_read_it_whole_and_then_loads(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "events.json").write_text(json.dumps(PRETTY_EVENTS, indent=2))  # 16 lines, none a whole object
    with pytest.raises(UserError) as err:
        ingest.run(spark, _events_config(tmp_path, folder, ""))
    assert "16 of 16 rows (100%) would be quarantined" in str(err.value)
    # Each object's opening line could be a broken JSON line; the other 14 can only be pieces of one document.
    assert "objects over several lines)? set the source's options.multiLine: true) x14" in str(err.value)

    config = _events_config(tmp_path, folder, "multiLine: 'true'")
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (2, 2, 0)
    silver = Lake(spark, config.lake).read(tables.SILVER["events"])
    assert sorted((r.event_id, r.event_type, r.event_ts) for r in silver.collect()) == [  # two rows
        ("E1", "view", dt.datetime(2025, 2, 3, 10, 0)),
        ("E2", "purchase", dt.datetime(2025, 2, 3, 10, 5)),
    ]


@pytest.mark.slow
def test_real_cdnow_keeps_every_line_and_its_revenue_to_the_cent(
    spark: SparkSession, tmp_path: Path, lifetimes_datasets: Path
) -> None:
    """CDNOW_master.txt from the lifetimes wheel (as `make demo DATA=cdnow` fetches it), through conf/cdnow.yaml."""
    from decimal import Decimal

    root = Path(__file__).resolve().parents[2]
    text = (lifetimes_datasets / "CDNOW_master.txt").read_text()
    source = tmp_path / "CDNOW_master.txt"
    source.write_text(text)
    lines = text.strip().splitlines()[1:]
    config = load_config(
        root / "conf" / "cdnow.yaml", [f"lake.root={tmp_path / 'lake'}", f"ingest.sources.transactions.path={source}"]
    )
    [report] = ingest.run(spark, config)
    revenue = (
        Lake(spark, config.lake)
        .read(tables.SILVER["transactions"])
        .agg(F.sum(F.col("amount").cast("decimal(14,2)")))
        .first()[0]
    )
    assert (
        (report.input, report.inserted, report.quarantined, report.duplicates)
        == (len(lines), len(lines), 0, 0)
        == (69659, 69659, 0, 0)
    )
    assert revenue == sum(Decimal(line.split()[3]) for line in lines)


def test_order_lines_completed_by_their_order_and_customer_files(spark: SparkSession, tmp_path: Path) -> None:
    """Olist's shape: items name only the order; orders name the customer and the time; customers the person."""
    (tmp_path / "items.csv").write_text(
        "order_id,order_item_id,product_id,price\n"
        "o1,1,p1,10.0\no1,2,p2,5.5\no2,1,p1,10.0\n"
        "o3,1,p3,7.0\n"  # o3 has two different order rows: no trustworthy customer or time
        "o9,1,p1,10.0\n"  # o9 is in no order file
    )
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,order_status,order_purchase_timestamp\n"
        "o1,c-a,delivered,2025-03-01 10:00:00\no1,c-a,delivered,2025-03-01 10:00:00\n"  # the same row twice is one
        "o2,c-b,delivered,2025-03-02 11:00:00\n"
        "o3,c-a,delivered,2025-03-03 12:00:00\no3,c-b,canceled,2025-03-03 12:00:00\n"
    )
    (tmp_path / "customers.csv").write_text(
        "customer_id,customer_unique_id,customer_city\nc-a,person-1,Recife\nc-b,person-1,Recife\n"
    )
    config = _config(
        tmp_path,
        f"""    transactions:
      path: {tmp_path / "items.csv"}
      lookups:
        - {{path: {tmp_path / "orders.csv"}, key: order_id}}
        - {{path: {tmp_path / "customers.csv"}, key: customer_id}}
      columns: {{order_id: order_id, line_id: order_item_id, product_id: product_id, unit_price: price,
                order_ts: order_purchase_timestamp, customer_id: customer_unique_id}}
""",
    )
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (5, 3, 2)
    lake = Lake(spark, config.lake)
    silver = {
        (r.order_id, r.line_id): (r.customer_id, r.order_ts, r.product_id, r.amount)
        for r in lake.read(tables.SILVER["transactions"]).collect()  # three lines
    }
    assert silver == {
        ("o1", "1"): ("person-1", dt.datetime(2025, 3, 1, 10), "p1", 10.0),
        ("o1", "2"): ("person-1", dt.datetime(2025, 3, 1, 10), "p2", 5.5),
        ("o2", "1"): ("person-1", dt.datetime(2025, 3, 2, 11), "p1", 10.0),
    }
    quarantined = {
        r.detail for r in lake.read(tables.QUARANTINE).where(F.col("reason") == "lookup_failed").collect()
    }  # two
    assert quarantined == {
        f"order_id has 2 different rows in {tmp_path / 'orders.csv'}",
        f"order_id not in {tmp_path / 'orders.csv'}",
    }
    bronze = " ".join(r._raw for r in lake.read(tables.BRONZE["transactions"]).collect())  # five lines
    assert "person-1" in bronze and "Recife" not in bronze and "delivered" not in bronze  # unmapped columns stay out


def test_a_quote_written_twice_inside_a_quoted_field_is_one_quote(spark: SparkSession, tmp_path: Path) -> None:
    """RFC 4180, as Excel, pandas and databases write it; Spark's own default escape is a backslash."""
    (tmp_path / "products.csv").write_text(
        'product_id,product_name,department\n1,"Hot Sauce ""Original"", 12oz",pantry\n2,Plain,"a ""b"""\n'
    )
    config = _config(
        tmp_path,
        f"""    products:
      path: {tmp_path / "products.csv"}
      columns: {{product_id: product_id, product_name: product_name, category: department}}
""",
    )
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (2, 2, 0)
    names = {
        r.product_id: (r.product_name, r.category)
        for r in Lake(spark, config.lake).read(tables.SILVER["products"]).collect()  # two products
    }
    assert names == {"1": ('Hot Sauce "Original", 12oz', "pantry"), "2": ("Plain", 'a "b"')}


@pytest.mark.parametrize(
    ("fmt", "lines", "header"),
    [
        ("csv", "A1,B7,5.0,1400000000\nA1,B8,x,1400000060\nA2,B7,3.0,1400000120\n", "header"),
        ("text", "A1  B7 5.0 1400000000\nA1 B8 x 1400000060\n\tA2 B7 3.0   1400000120\n", "header"),
        # Spark's options ignore case; the text reader's own reading of `header` does too.
        ("text", "A1  B7 5.0 1400000000\nA1 B8 x 1400000060\n\tA2 B7 3.0   1400000120\n", "Header"),
    ],
)
def test_a_header_less_export_maps_its_columns_by_position_and_quarantines_with_its_fields(
    spark: SparkSession, tmp_path: Path, fmt: str, lines: str, header: str
) -> None:
    """Amazon's ratings files, Last.fm's plays: no header row, so Spark names the columns `_c0`, `_c1`, ..."""
    (tmp_path / "ratings.csv").write_text(lines)
    config = _config(
        tmp_path,
        f"""    ratings:
      path: {tmp_path / "ratings.csv"}
      format: {fmt}
      options: {{{header}: "false"}}
      timestamp_format: epoch_seconds
      columns: {{customer_id: _c0, product_id: _c1, rating: _c2, rated_ts: _c3}}
""",
    )
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (3, 2, 1)
    lake = Lake(spark, config.lake)
    rows = {(r.customer_id, r.product_id, r.rating) for r in lake.read(tables.SILVER["ratings"]).collect()}  # two
    assert rows == {("A1", "B7", 5.0), ("A2", "B7", 3.0)}
    [bad] = lake.read(tables.QUARANTINE).collect()  # exactly one row, or the unpacking fails
    assert (bad.reason, json.loads(bad.raw)) == (
        "wrong_type",
        {"_c0": "A1", "_c1": "B8", "_c2": "x", "_c3": "1400000060"},
    )


def test_days_counted_from_the_exports_own_start_become_dates(spark: SparkSession, tmp_path: Path) -> None:
    """dunnhumby's Complete Journey numbers its days 1, 2, ... with no calendar date: the user picks day 0."""
    (tmp_path / "transaction_data.csv").write_text(
        "household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,SALES_VALUE\n"
        "2375,26984851472,1,1004906,1,1.39\n2375,26984851472,1,1033142,1,0.82\n"
        "1364,26984896261,32.5,842930,2,3.18\n1364,26984896262,1e30,842930,1,1.00\n"
    )
    config = _config(
        tmp_path,
        f"""    transactions:
      path: {tmp_path / "transaction_data.csv"}
      timestamp_format: days since 2019-12-31
      columns: {{customer_id: household_key, order_id: BASKET_ID, order_ts: DAY, product_id: PRODUCT_ID,
                quantity: QUANTITY, amount: SALES_VALUE}}
""",
    )
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (4, 3, 1)
    lake = Lake(spark, config.lake)
    got = {(r.order_id, r.order_ts) for r in lake.read(tables.SILVER["transactions"]).collect()}  # three lines
    assert got == {("26984851472", dt.datetime(2020, 1, 1)), ("26984896261", dt.datetime(2020, 2, 1, 12))}
    [bad] = lake.read(tables.QUARANTINE).collect()  # exactly one row, or the unpacking fails
    assert (bad.reason, bad.key.split("|")[0]) == ("wrong_type", "26984896262")  # order id | line id
