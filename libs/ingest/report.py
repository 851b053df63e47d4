"""What one ingest of one entity did, in counts that must add up, and the row it leaves in `bronze.ingest_runs`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

STREAM_PREFIX = "stream-"  # ingest ids of `pmkt stream`'s micro-batches: `stream-<stream id>-<batch id>`


@dataclass(frozen=True)
class EntityReport:
    """Counts for one entity in one ingest run; `input` must equal the sum of the other outcomes."""

    ingest_id: str
    entity: str
    files: int
    input: int
    inserted: int
    updated: int
    quarantined: int
    duplicates: int
    unchanged: int

    @property
    def reconciles(self) -> bool:
        return self.input == self.inserted + self.updated + self.quarantined + self.duplicates + self.unchanged

    def row(self, spark: SparkSession) -> DataFrame:
        """The report as its `bronze.ingest_runs` row."""
        return spark.createDataFrame([asdict(self)]).withColumn("finished_at", F.current_timestamp())

    def summary(self) -> str:
        return (
            f"{self.entity}: {self.input:,} in = {self.inserted:,} inserted + {self.updated:,} updated + "
            f"{self.quarantined:,} quarantined + {self.duplicates:,} duplicates + {self.unchanged:,} unchanged "
            f"({self.files} files)"
        )
