"""Precision-marketing platform on Apache Spark and Delta Lake."""

from __future__ import annotations

from setuptools import find_packages, setup

# pyspark 4.0.x with delta-spark 4.0.x is the pairing in Databricks Runtime 17;
# the other pins are the versions checked to import pyspark.ml and pyspark.testing cleanly.
INSTALL_REQUIRES = [
    "pyspark==4.0.1",
    "delta-spark==4.0.0",
    "pandas==3.1.1",
    "numpy==2.4.6",
    "pyarrow==26.0.1",
    "scipy==1.17.1",  # CLV: the BG/NBD and Gamma-Gamma likelihoods, fitted on the distinct purchase patterns
    "PyYAML==6.0.3",
    "matplotlib==3.11.2",  # the report's plots
    "mlflow-skinny==3.17.2",  # model tracking and registry (the full package pins pyarrow below 26)
    "SQLAlchemy==2.1.9",  # with alembic: MLflow's SQLite store, the default under the lake root
    "alembic==1.20.1",
]
SERVE_REQUIRES = [
    "deltalake==1.6.6",  # `pmkt serve` reads the gold tables with delta-rs: no Spark on the request path
    "fastapi==0.165.0",
    "uvicorn==0.55.0",
]
DEV_REQUIRES = [
    *SERVE_REQUIRES,  # the serving tests start the real server on loopback
    "chispa==0.12.0",
    "pytest==9.2.0",
    "scikit-learn==1.9.1",  # tests only: adjusted Rand index against planted segments
    "ruff==0.17.6",  # `make lint`: lint and format, settings in pyproject.toml
    "mypy==2.4.1",  # `make lint`: types of libs and jobs
    "types-PyYAML==6.0.12.20261113",
]
BENCH_REQUIRES = [
    "implicit==0.7.3",  # benchmarks only: the single-node ALS that MLlib is measured against
    "mlxtend==0.25.0",  # benchmarks only: the single-node FPGrowth peer
]

setup(
    name="pmkt",
    version="0.1.0",
    description="Precision-marketing platform on Apache Spark and Delta Lake",
    python_requires=">=3.10",
    # The folders jobs/ and libs/ install as pmkt.jobs and pmkt.libs, so nothing lands as a top-level `libs`.
    packages=[f"pmkt.{p}" for p in find_packages(include=["jobs", "jobs.*", "libs", "libs.*"])],
    package_dir={"pmkt.jobs": "jobs", "pmkt.libs": "libs"},
    package_data={"pmkt.libs": ["resources/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"dev": DEV_REQUIRES, "serve": SERVE_REQUIRES, "bench": BENCH_REQUIRES},
    entry_points={"console_scripts": ["pmkt = pmkt.jobs.cli:main"]},
)
