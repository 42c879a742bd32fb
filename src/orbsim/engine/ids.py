"""Deterministic, Orb-looking resource ids: the same ``seed`` gives the same ids in every run."""

from __future__ import annotations

import random
import string
from collections.abc import Iterable

_ALPHABET = string.ascii_letters + string.digits


class IdGenerator:
    """Generates 16-character alphanumeric ids (Orb's style) from a seeded RNG."""

    def __init__(self, seed: int | str | None = 0) -> None:
        self._rng = random.Random(seed)
        self._issued: set[str] = set()

    @classmethod
    def restored(cls, rng_state: object, issued: Iterable[str]) -> IdGenerator:
        """A generator continuing from ``state()`` with the ids in ``issued`` already used;
        raises TypeError or ValueError for something that is not a ``random.Random`` state."""
        generator = cls(None)
        generator._rng.setstate(rng_state)  # type: ignore[arg-type]
        generator._issued = set(issued)
        return generator

    def new(self, prefix: str = "") -> str:
        while True:
            candidate = prefix + "".join(self._rng.choices(_ALPHABET, k=16))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    def state(self) -> object:
        return self._rng.getstate()

    @property
    def issued(self) -> frozenset[str]:
        """Every id handed out so far (never handed out again)."""
        return frozenset(self._issued)
