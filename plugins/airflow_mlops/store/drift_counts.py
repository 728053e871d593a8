"""Drift bin counts packed into one blob per bucket: every feature of an hour (or a day) in one row.

Why a blob: with one row per (hour, feature) holding a JSON list, a 90-day window
over 50 features was 110 000 rows to fetch and parse, and with ~100 bins per
feature each row's JSON grew tenfold. One row per bucket holds all its vectors
back to back as little-endian integers of the narrowest width that fits its
largest count (2, 4 or 8 bytes), with a small JSON layout ``[[name, n_bins], ...]``
saying which slice is which feature. A window then reads one row per hour or day
and sums whole rows with numpy; the layout text is parsed once per distinct text.

It lives in the store layer (not in ``monitoring``) because the Alembic migration
that moved the old per-feature rows into blobs packs them with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

#: Bytes per count -> the numpy dtype they are stored as (little-endian, unsigned where narrow).
WIDTHS: dict[int, str] = {2: "<u2", 4: "<u4", 8: "<i8"}


@dataclass(frozen=True)
class Layout:
    """Where each feature's vector sits in a packed blob (in counts, not bytes)."""

    names: tuple[str, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.stops[-1] if self.stops else 0

    def slices(self) -> dict[str, slice]:
        return {n: slice(a, b) for n, a, b in zip(self.names, self.starts, self.stops, strict=True)}


@lru_cache(maxsize=256)
def parse_layout(text: str) -> Layout:
    """The layout of a stored ``layout`` text; cached, since every bucket of a model version shares one."""
    entries = json.loads(text)
    names: list[str] = []
    starts: list[int] = []
    stops: list[int] = []
    position = 0
    for name, n_bins in entries:
        names.append(str(name))
        starts.append(position)
        position += int(n_bins)
        stops.append(position)
    return Layout(tuple(names), tuple(starts), tuple(stops))


def width_for(largest: int) -> int:
    """The narrowest stored width (bytes per count) that holds ``largest``."""
    if largest < 0:
        raise ValueError(f"bin counts must be >= 0; got a count of {largest}")
    if largest <= 0xFFFF:
        return 2
    if largest <= 0xFFFFFFFF:
        return 4
    return 8


def pack(vectors: Mapping[str, NDArray[np.int64]]) -> tuple[str, int, bytes]:
    """``(layout, width, blob)`` for per-feature count vectors, in the mapping's order."""
    layout = json.dumps([[name, len(vector)] for name, vector in vectors.items()], separators=(",", ":"))
    if not vectors:
        return layout, 2, b""
    flat = np.concatenate([np.asarray(v, dtype=np.int64) for v in vectors.values()])
    largest, smallest = (int(flat.max()), int(flat.min())) if flat.size else (0, 0)
    if smallest < 0:
        raise ValueError(f"bin counts must be >= 0; got a count of {smallest}")
    width = width_for(largest)
    return layout, width, flat.astype(WIDTHS[width]).tobytes()


def flat_counts(width: int, blob: bytes | memoryview) -> NDArray[np.int64] | NDArray[np.unsignedinteger]:
    """The blob's counts as a read-only array of its stored dtype (no copy)."""
    try:
        dtype = WIDTHS[width]
    except KeyError:
        raise ValueError(
            f"stored drift counts have width {width!r}; expected one of {sorted(WIDTHS)}"
        ) from None
    return np.frombuffer(blob, dtype=dtype)


def unpack(layout: str, width: int, blob: bytes | memoryview) -> dict[str, NDArray[np.int64]]:
    """Per-feature int64 vectors of a packed row (copies: safe to add to)."""
    parsed = parse_layout(layout)
    flat = flat_counts(width, blob).astype(np.int64)
    if flat.size != parsed.size:
        raise ValueError(f"a drift bucket's blob holds {flat.size} counts but its layout names {parsed.size}")
    return {name: flat[part] for name, part in parsed.slices().items()}


def add_into(
    existing: dict[str, NDArray[np.int64]], delta: Mapping[str, NDArray[np.int64]]
) -> dict[str, NDArray[np.int64]]:
    """``existing + delta`` per feature (a feature new to the bucket is appended to its layout)."""
    for name, vector in delta.items():
        vector = np.asarray(vector, dtype=np.int64)
        current = existing.get(name)
        if current is None:
            existing[name] = vector.copy()
        elif len(current) != len(vector):
            raise ValueError(
                f"feature {name!r} has {len(vector)} bins but its stored bucket has {len(current)}; "
                "a model version's baseline bins must not change once counts are folded"
            )
        else:
            existing[name] = current + vector
    return existing
