"""Ctrl-C and ownership errors in words a person can act on, without a warehouse."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from journeys import pipeline
from journeys.transform import TransformError, TransformInterrupted, summarise

OWNER_ERROR = (
    "Database Error in model int_touchpoints_unioned (models/intermediate/identity/"
    "int_touchpoints_unioned.sql)\n  must be owner of view int_touchpoints_unioned"
)


def test_dbt_interrupted_says_so_and_that_the_next_build_finishes() -> None:
    # dbtRunner hands Ctrl-C back as the result's exception, with no message of its own.
    with pytest.raises(TransformInterrupted) as raised:
        summarise("build", "duckdb", False, None, KeyboardInterrupt(), elapsed=1.0)
    assert "the next `journeys transform` builds the rest" in str(raised.value)
    assert isinstance(raised.value, KeyboardInterrupt)


def test_a_model_another_role_owns_gets_the_roles_advice() -> None:
    node = SimpleNamespace(resource_type="model", name="int_touchpoints_unioned", description="")
    item = SimpleNamespace(node=node, status="error", message=OWNER_ERROR, failures=None, execution_time=0.1)
    summary = summarise("build", "postgres", False, SimpleNamespace(results=[item]), None, elapsed=1.0)
    (failure,) = summary.failures
    assert "must be owner of view int_touchpoints_unioned" in failure.message
    assert (
        "run `journeys roles` as an admin to hand the objects back to their schema's owner" in failure.message
    )


def test_a_run_level_ownership_error_gets_the_roles_advice() -> None:
    with pytest.raises(TransformError, match="run `journeys roles` as an admin"):
        summarise("build", "postgres", False, None, RuntimeError(OWNER_ERROR), elapsed=1.0)


def test_a_stage_names_where_ctrl_c_came_and_keeps_a_stage_s_own_words() -> None:
    with pytest.raises(pipeline.Interrupted) as raised, pipeline._stage("check raw", "all kept"):
        raise KeyboardInterrupt
    assert (raised.value.stage, str(raised.value)) == ("check raw", "all kept")
    with pytest.raises(pipeline.Interrupted) as raised, pipeline._stage("transform", "all kept"):
        raise TransformInterrupted("the models dbt finished are kept")
    assert (raised.value.stage, str(raised.value)) == ("transform", "the models dbt finished are kept")
