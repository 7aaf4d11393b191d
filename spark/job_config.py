"""One ingestion query's settings: what the driver wires and what its landing needs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow.config import KafkaConnection
from tillflow.jobs.ingest.sink import DEFAULT_MODE


@dataclass(frozen=True)
class JobConfig:
    """Everything one ingestion query needs (picklable: it travels to the executors)."""

    job: str
    topics: tuple[str, ...]
    kafka: KafkaConnection
    dsn: str
    checkpoint: str
    mode: str = "continuous"
    trigger_seconds: float = 1.0
    engine: str = "python"
    sink_mode: str = DEFAULT_MODE
    kinds: dict[str, str] = field(default_factory=dict)
    max_offsets_per_trigger: int | None = None
    starting_offsets: str = "earliest"
    chunk_rows: int = 200_000
    max_age_days: float = 400.0
    max_future_minutes: float = 5.0

    @property
    def stream(self) -> str:
        """This query's name in the progress table: its checkpoint's folder (jobs that share a
        commit log, the catch-up and the continuous one, keep their own batch counts)."""
        return Path(self.checkpoint.rstrip("/")).name

    def to_json(self) -> str:
        data: dict[str, Any] = dataclasses.asdict(self)
        data["kafka"] = self.kafka.client_config()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobConfig:
        data = json.loads(text)
        data["topics"] = tuple(data["topics"])
        data["kafka"] = KafkaConnection.from_config(data["kafka"])
        return cls(**data)
