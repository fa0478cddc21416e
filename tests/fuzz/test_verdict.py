"""The fuzzing verdict: which responses are server faults and which are typed refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fuzz.runner import verdict


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"data": {"party": None}}),
        (
            200,
            {"data": None, "errors": [{"message": "id 'x' is not a UUID.", "extensions": {"code": "BAD_USER_INPUT"}}]},
        ),
        (
            200,
            {"data": {"x": None}, "errors": [{"message": "No.", "path": ["x"], "extensions": {"code": "FORBIDDEN"}}]},
        ),
        (400, {"errors": [{"message": "Too deep.", "extensions": {"code": "MAX_DEPTH_EXCEEDED"}}]}),
        (401, {"errors": [{"message": "Bad token.", "extensions": {"code": "UNAUTHENTICATED"}}]}),
    ],
)
def test_results_and_typed_refusals_pass(status: int, body: Any) -> None:
    assert verdict(status, body) is None


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (502, {"errors": []}, "HTTP 502"),
        (200, "<html>", "not a GraphQL response"),
        (
            200,
            {"errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]},
            "INTERNAL_SERVER_ERROR",
        ),
        (200, {"data": None, "errors": [{"message": "boom", "path": ["x"]}]}, "untyped error"),
        (
            200,
            {
                "data": None,
                "errors": [
                    {
                        "message": "Cannot return null for non-nullable field Party.id.",
                        "path": ["party", "id"],
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ],
            },
            "null in a non-null field",
        ),
        (200, {"errors": [{"message": "x", "extensions": {"code": "SUBREQUEST_HTTP_ERROR"}}]}, "SUBREQUEST_HTTP_ERROR"),
    ],
)
def test_server_faults_are_reported(status: int, body: Any, says: str) -> None:
    assert says in (verdict(status, body) or "")
