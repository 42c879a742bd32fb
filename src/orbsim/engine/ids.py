"""Deterministic, Orb-looking resource ids: the same ``seed`` gives the same ids in every run."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits


class IdGenerator:
    """Generates 16-character alphanumeric ids (Orb's style) from a seeded RNG."""

    def __init__(self, seed: int | str | None = 0) -> None:
        self._rng = random.Random(seed)
        self._issued: set[str] = set()

    def new(self, prefix: str = "") -> str:
        while True:
            candidate = prefix + "".join(self._rng.choices(_ALPHABET, k=16))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    def state(self) -> object:
        return self._rng.getstate()
