"""Deterministic, Orb-looking resource ids: the same ``seed`` gives the same ids in every run."""

from __future__ import annotations

import random
import string
from collections.abc import Iterable

_ALPHABET = string.ascii_letters + string.digits


class IdGenerator:
    """Generates 16-character alphanumeric ids (Orb's style) from a seeded RNG."""

    def __init__(
        self, seed: int | str | None = 0, *, rng_state: object = None, issued: Iterable[str] = ()
    ) -> None:
        self._rng = random.Random(seed)
        if rng_state is not None:
            self._rng.setstate(rng_state)  # type: ignore[arg-type]
        self._issued: set[str] = set(issued)

    @classmethod
    def restored(cls, rng_state: object, issued: Iterable[str]) -> IdGenerator:
        """A generator continuing from ``state()`` with the ids in ``issued`` already used;
        raises TypeError or ValueError for something that is not a ``random.Random`` state."""
        return cls(None, rng_state=rng_state, issued=issued)

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
