"""The client's error table against the router's own: ``x-sandbank-codes`` in router/openapi.json
(generated from router/src/errors.ts) is the one source of the codes, their HTTP statuses,
WebSocket close codes and whether each is retryable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import pytest

from sandbank import _protocol, errors

OPENAPI = Path(__file__).resolve().parents[4] / "router" / "openapi.json"


class CodeSpec(TypedDict):
    http: int
    ws: int
    retryable: bool


def router_codes() -> dict[str, CodeSpec]:
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    code = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    table: dict[str, CodeSpec] = code["x-sandbank-codes"]
    assert sorted(table) == sorted(code["enum"]), "the table and the enum list the same codes"
    return table


CODES = router_codes()


def test_the_client_knows_exactly_the_routers_codes() -> None:
    assert sorted(errors._BY_CODE) == sorted(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_has_its_own_class_and_the_routers_retryable(code: str) -> None:
    err = errors.error_for_code(code, "m", CODES[code]["http"])
    assert type(err).code == code, f"{code} is raised as {type(err).__name__}, the class of {type(err).code}"
    assert err.error_code == code
    assert err.retryable is CODES[code]["retryable"], f"{code}: retryable differs from the router's"


@pytest.mark.parametrize("code", sorted(CODES))
def test_a_websocket_close_maps_to_the_codes_class_and_http_status(code: str) -> None:
    err = _protocol.error_from_close(CODES[code]["ws"], f"{code}: m")
    assert type(err) is errors._BY_CODE[code] and err.error_code == code
    assert err.status == CODES[code]["http"]


@pytest.mark.parametrize("status", sorted(errors._BY_STATUS))
def test_a_status_without_a_code_stands_for_a_router_code_with_that_status(status: int) -> None:
    code = errors._BY_STATUS[status]
    assert CODES[code]["http"] == status, f"HTTP {status} is guessed as {code}, which the router answers with another"
    assert type(errors.error_for_code(None, "m", status)) is errors._BY_CODE[code]


def test_the_client_resends_on_its_own_only_codes_the_router_calls_retryable() -> None:
    retryable = {code for code, spec in CODES.items() if spec["retryable"]}
    assert retryable >= _protocol.RETRY_SAFE_CODES
