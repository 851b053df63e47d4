# Databricks notebook source
# MAGIC %md
# MAGIC # pmkt pipeline
# MAGIC Runs the platform's jobs with this notebook's own `spark`. The notebook holds no logic:
# MAGIC every step is `run(spark, config)` from the `pmkt.jobs` package. Install the project on the
# MAGIC cluster first (a wheel, or `%pip install` from your repository).

# COMMAND ----------

dbutils.widgets.text("conf_file", "conf/local.yaml")  # noqa: F821 - provided by Databricks
dbutils.widgets.text("lake_catalog", "main")  # noqa: F821
dbutils.widgets.text("overrides", "")  # noqa: F821 - e.g. ingest.sources.events.path=/Volumes/main/raw/events

# COMMAND ----------

from pmkt.jobs import ingest, tables
from pmkt.libs.config import load_config

overrides = [o.strip() for o in dbutils.widgets.get("overrides").split(",") if o.strip()]  # noqa: F821
overrides.append(f"lake.catalog={dbutils.widgets.get('lake_catalog')}")  # noqa: F821
config = load_config(dbutils.widgets.get("conf_file"), overrides)  # noqa: F821

# COMMAND ----------

ingest.run(spark, config)  # noqa: F821 - the notebook's session; Delta is built in

# COMMAND ----------

tables.run(spark, config)  # noqa: F821
