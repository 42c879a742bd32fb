"""Backfill ``deprecation_filter`` and subscription ``filter``: boolean computed properties.

Both are Orb computed properties, compiled by the one evaluator in
:mod:`orbsim.engine.expressions` (the grammar and semantics are documented there). This module
keeps the names the backfill code and its tests have always used.
"""

from __future__ import annotations

from orbsim.engine.expressions import CompiledFilter, Scalar, compile_filter
from orbsim.engine.expressions import ExpressionSyntaxError as FilterSyntaxError

__all__ = ["CompiledFilter", "FilterSyntaxError", "Scalar", "compile_filter"]
