"""Pieces of DynamoDB expressions that several operations write the same way.

- ``one_of``: ``name IN (:h0, :h1 ...)``, a stored hash that may have been made under any live key.
- ``session_removal``: ``REMOVE #r0, #r1 ...``, the session attributes a write ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from phone_auth.store.records import SessionRecord


def one_of(name: str, prefix: str, candidates: Sequence[str], values: dict[str, Any]) -> str:
    """``name IN (:prefix0, :prefix1 ...)``: true when ``name`` is any of ``candidates``, each
    added to ``values`` (ExpressionAttributeValues) under its placeholder."""
    placeholders = []
    for index, candidate in enumerate(candidates):
        values[f":{prefix}{index}"] = candidate
        placeholders.append(f":{prefix}{index}")
    return f"{name} IN ({', '.join(placeholders)})"


@dataclass(frozen=True)
class SessionRemoval:
    """Removing some sessions of a user item: ``clause`` (``REMOVE #r0, ...``, empty for none) and
    ``names`` (ExpressionAttributeNames: placeholder -> ``session#<id>``, in the order given)."""

    clause: str
    names: dict[str, str]

    @property
    def placeholders(self) -> list[str]:
        return list(self.names)


def session_removal(session_ids: Sequence[str]) -> SessionRemoval:
    names = {f"#r{index}": SessionRecord.attribute_of(session_id) for index, session_id in enumerate(session_ids)}
    return SessionRemoval(clause="REMOVE " + ", ".join(names) if names else "", names=names)
