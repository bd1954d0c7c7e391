"""A column of a declared table (the dataset index, the trial table): one definition both use."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    meaning: str
    required: bool = True  # readers refuse a file without it (the dataset index only)
    choices: tuple | None = None  # the values it may take, where it is a closed set
