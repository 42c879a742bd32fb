"""Builders and assertions shared by the test suite (not tests themselves).

Test modules never import each other; what several of them need lives here, importable as
``helpers`` (``pythonpath = ["tests"]`` in pyproject.toml), and fixtures live in the conftest.py
files. ``helpers.wire``: WireRequests, dispatch, Orb problem+json checks, a populated account;
``helpers.sdk``: SDK-level builders; ``helpers.served``: an ``orbsim serve`` subprocess;
``helpers.workload``: the concurrency workload; ``helpers.webhooks``: a webhook delivery rig;
``helpers.webhook_events``: builders of the engine's webhook tests; ``helpers.strategy_sim``:
the simulator the strategy tests ingest into.
"""
