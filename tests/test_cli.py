"""``orbsim demo`` runs the scripted scenario and shows each rule it exercises."""

from __future__ import annotations

import pytest

from orbsim.cli import main


def test_demo_prints_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "older than the grace period" in out
    assert "versions (nothing is ever deleted)" in out
    assert "ConstraintViolation" in out
    assert "status reflected" in out
    assert "after revert: status reverted" in out
    assert "search: evt-3 deprecated=True" in out
    assert "refused: ResourceConflict (409)" in out
    assert "refused: RequestValidationError (400)" in out


def test_unknown_command_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["nope"])
