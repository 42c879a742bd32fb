"""Strategies for ``customers.create`` keyword arguments, with timezones where local-midnight
arithmetic breaks.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from orbsim.strategies.ingestion import NAME_ALPHABET, customer_aliases

if TYPE_CHECKING:
    pass


TIMEZONES = (
    "Etc/UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
)
"""Timezones with DST, half- and quarter-hour offsets: where local-midnight arithmetic breaks."""


def customer_payloads(
    *,
    aliases: st.SearchStrategy[str] | None = None,
    timezones: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``sim.customers.create`` / ``client.customers.create``.

    Always ``name`` and ``email``; sometimes ``external_customer_id`` (from ``aliases``),
    ``timezone`` (from ``timezones``, default ``TIMEZONES``) and ``metadata``. Aliases must be
    unique among live customers, so draw several with
    ``st.lists(customer_payloads(aliases=st.sampled_from(...)), unique_by=...)`` or ``st.data()``.
    """
    local = st.text(string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=12)
    domain = st.sampled_from(["example.com", "acme.test", "billing.example.org"])
    names = st.text(string.ascii_letters + string.digits + " &.,'-", min_size=1, max_size=40)
    metadata = st.dictionaries(
        st.text(NAME_ALPHABET, min_size=1, max_size=10),
        st.text(string.printable, max_size=20),
        max_size=3,
    )
    return st.fixed_dictionaries(
        {
            "name": names,
            "email": st.builds(lambda a, b: f"{a}@{b}", local, domain),
        },
        optional={
            "external_customer_id": aliases if aliases is not None else customer_aliases(),
            "timezone": timezones if timezones is not None else st.sampled_from(TIMEZONES),
            "metadata": metadata,
        },
    )
