"""Persisted operations: loading a directory, resolving ids, and calling them over HTTP (POST, GET, APQ)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import websockets

from router.app import create_app
from router.config import DEFAULT_OPERATIONS, RouterSettings
from router.persisted import (
    HASH_MISMATCH,
    NOT_FOUND,
    REQUIRED,
    PersistedOperationError,
    PersistedOperations,
    sha256_hex,
)
from tests.router.harness import SCENARIOS, ServerThread

PROGRAM = "query Program {\n  program\n}\n"
CARD = "query CardBrand($id: ID!) {\n  card(id: $id) { ...brand }\n}\n\nfragment brand on Card { brand }\n"


@pytest.fixture
def operations_dir(tmp_path) -> Path:
    directory = tmp_path / "operations"
    directory.mkdir()
    (directory / "Program.graphql").write_text(PROGRAM)
    (directory / "CardBrand.graphql").write_text(CARD)
    (directory / "notes.txt").write_text("not an operation")
    return directory


# --- pure -------------------------------------------------------------------------------------------------------


def test_load_keys_each_operation_by_name_and_sha256(operations_dir) -> None:
    store = PersistedOperations.load(operations_dir)
    assert store.names() == ["CardBrand", "Program"]  # sorted by file name; only *.graphql
    assert store["Program"] is store[sha256_hex(PROGRAM)]
    assert store["Program"].query == PROGRAM
    assert len(store) == 4


def test_missing_or_unset_directory_is_empty(tmp_path) -> None:
    assert len(PersistedOperations.load(tmp_path / "absent")) == 0
    assert len(PersistedOperations.load(None)) == 0


@pytest.mark.parametrize(
    "text",
    ["{ program }", "query A { program } query B { program }", "query Broken {", "fragment f on Card { id }"],
)
def test_a_file_must_hold_one_named_operation(tmp_path, text: str) -> None:
    (tmp_path / "Bad.graphql").write_text(text)
    with pytest.raises(ValueError, match=r"Bad\.graphql"):
        PersistedOperations.load(tmp_path)


def test_duplicate_operation_names_are_refused(tmp_path) -> None:
    (tmp_path / "a.graphql").write_text("query Same { program }")
    (tmp_path / "b.graphql").write_text("query Same { cards { id } }")
    with pytest.raises(ValueError, match="Same"):
        PersistedOperations.load(tmp_path)


@pytest.mark.parametrize(
    "body",
    [
        {"documentId": "Program"},
        {"id": "Program"},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(PROGRAM)}}},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(PROGRAM).upper()}}},
        {"query": PROGRAM, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(PROGRAM)}}},
    ],
)
def test_resolve_by_id(operations_dir, body: dict) -> None:
    store = PersistedOperations.load(operations_dir)
    assert store.resolve(body) == (PROGRAM, "Program")
    assert store.resolve(body, persisted_only=True) == (PROGRAM, "Program")


def test_resolve_keeps_free_form_queries_unless_persisted_only(operations_dir) -> None:
    store = PersistedOperations.load(operations_dir)
    assert store.resolve({"query": "{ cards { id } }", "operationName": None}) == ("{ cards { id } }", None)
    with pytest.raises(PersistedOperationError) as refused:
        store.resolve({"query": "{ cards { id } }"}, persisted_only=True)
    assert refused.value.code == REQUIRED
    with pytest.raises(PersistedOperationError) as empty:
        store.resolve({}, persisted_only=True)
    assert empty.value.code == REQUIRED
    # A stored document's exact text is trusted even when sent in full (a safelist).
    assert store.resolve({"query": PROGRAM}, persisted_only=True) == (PROGRAM, None)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"documentId": "Nope"}, NOT_FOUND),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}}, NOT_FOUND),
        ({"documentId": "Program", "query": "{ cards { id } }"}, HASH_MISMATCH),
        ({"documentId": 3}, "BAD_REQUEST"),
        ({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "ab"}}}, "BAD_REQUEST"),
        ({"extensions": {"persistedQuery": {"version": 1}}}, "BAD_REQUEST"),
        ({"extensions": {"persistedQuery": "Program"}}, "BAD_REQUEST"),
    ],
)
def test_resolve_errors(operations_dir, body: dict, code: str) -> None:
    with pytest.raises(PersistedOperationError) as error:
        PersistedOperations.load(operations_dir).resolve(body)
    assert error.value.code == code


def test_the_shipped_operations_load() -> None:
    store = PersistedOperations.load(DEFAULT_OPERATIONS)
    assert {"Customer360", "RmWorkbench"} <= set(store.names())
    for name in ("Customer360", "RmWorkbench"):
        assert store[name].sha256 == sha256_hex((DEFAULT_OPERATIONS / f"{name}.graphql").read_text())
    assert RouterSettings().operations_dir == DEFAULT_OPERATIONS


# --- over HTTP, against the errors scenario ----------------------------------------------------------------------


@pytest.fixture
def supergraph_file(scenarios, tmp_path) -> Path:
    path = tmp_path / "supergraph.graphql"
    sdl = (SCENARIOS / "errors" / "supergraph.graphql").read_text()
    for name, url in scenarios.urls("errors").items():
        sdl = sdl.replace(f"http://{name}.invalid/graphql", url)
    path.write_text(sdl)
    return path


@pytest.fixture
def client_for(supergraph_file, operations_dir):
    def make(**settings) -> httpx.AsyncClient:
        app = create_app(RouterSettings(supergraph=supergraph_file, operations_dir=operations_dir, **settings))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router")

    return make


async def test_post_by_document_id_and_by_id(client_for) -> None:
    async with client_for() as client:
        by_document_id = await client.post("/graphql", json={"documentId": "Program"})
        by_id = await client.post("/graphql", json={"id": "CardBrand", "variables": {"id": "k1"}})
    assert by_document_id.status_code == 200
    assert by_document_id.json() == {"data": {"program": "miles"}}
    assert by_id.json() == {"data": {"card": {"brand": "Visa"}}}


async def test_post_by_apq_hash(client_for) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(CARD)}}
    async with client_for() as client:
        resp = await client.post("/graphql", json={"extensions": extensions, "variables": {"id": "k1"}})
    assert resp.status_code == 200
    assert resp.json() == {"data": {"card": {"brand": "Visa"}}}


async def test_get_by_document_id_and_by_hash(client_for) -> None:
    preflight = {"apollo-require-preflight": "true"}
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(PROGRAM)}})
    async with client_for() as client:
        by_name = await client.get(
            "/graphql", params={"documentId": "CardBrand", "variables": '{"id": "k1"}'}, headers=preflight
        )
        by_hash = await client.get("/graphql", params={"extensions": extensions}, headers=preflight)
        by_id = await client.get("/graphql", params={"id": "Program"}, headers=preflight)
    assert by_name.json() == {"data": {"card": {"brand": "Visa"}}}
    assert by_hash.json() == by_id.json() == {"data": {"program": "miles"}}


async def test_unknown_id_is_400_persisted_query_not_found(client_for) -> None:
    async with client_for() as client:
        by_name = await client.post("/graphql", json={"documentId": "Nope"})
        by_hash = await client.post(
            "/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00" * 32}}}
        )
    for resp in (by_name, by_hash):
        assert resp.status_code == 400
        assert resp.json()["errors"][0]["extensions"]["code"] == NOT_FOUND


async def test_persisted_only_refuses_free_form_queries(client_for) -> None:
    async with client_for(persisted_only=True) as client:
        free = await client.post("/graphql", json={"query": "{ program }"})
        persisted = await client.post("/graphql", json={"documentId": "Program"})
    assert free.status_code == 400
    assert free.json()["errors"][0]["extensions"]["code"] == REQUIRED
    assert persisted.json() == {"data": {"program": "miles"}}


async def test_free_form_queries_still_run_by_default(client_for) -> None:
    async with client_for() as client:
        resp = await client.post("/graphql", json={"query": "{ program }"})
    assert resp.json() == {"data": {"program": "miles"}}


async def test_persisted_operation_that_does_not_validate_is_a_400(client_for, operations_dir) -> None:
    # Files are not checked against the supergraph at load (one directory may serve several); the request is.
    (operations_dir / "Ghost.graphql").write_text("query Ghost { nothingHere }")
    async with client_for() as client:
        resp = await client.post("/graphql", json={"documentId": "Ghost"})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


# --- over graphql-transport-ws -----------------------------------------------------------------------------------


@pytest.fixture
def router_ws(supergraph_file, operations_dir):
    servers = []

    def start(**settings) -> str:
        app = create_app(RouterSettings(supergraph=supergraph_file, operations_dir=operations_dir, **settings))
        server = ServerThread(app)
        server.server.config.lifespan = "on"
        server.start()
        servers.append(server)
        return f"ws://127.0.0.1:{server.port}/graphql"

    yield start
    for server in servers:
        server.stop()


async def _ws_operations(url: str, payloads: list[dict]) -> list[list[dict]]:
    """Runs each payload as one operation on one connection; returns each operation's messages."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        answers = []
        for n, payload in enumerate(payloads):
            await ws.send(json.dumps({"type": "subscribe", "id": str(n), "payload": payload}))
            messages = []
            while not messages or messages[-1]["type"] not in ("complete", "error"):
                messages.append(json.loads(await ws.recv()))
            answers.append(messages)
    return answers


async def test_websocket_operations_by_id(router_ws) -> None:
    url = router_ws()
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(PROGRAM)}}
    by_name, by_hash, unknown = await _ws_operations(
        url, [{"documentId": "CardBrand", "variables": {"id": "k1"}}, {"extensions": apq}, {"documentId": "Nope"}]
    )
    assert by_name[0] == {"type": "next", "id": "0", "payload": {"data": {"card": {"brand": "Visa"}}}}
    assert by_hash[0]["payload"] == {"data": {"program": "miles"}}
    assert unknown[-1]["type"] == "error"
    assert unknown[-1]["payload"][0]["extensions"]["code"] == NOT_FOUND


async def test_websocket_persisted_only_refuses_free_form_queries(router_ws) -> None:
    url = router_ws(persisted_only=True)
    free, persisted = await _ws_operations(url, [{"query": "{ program }"}, {"id": "Program"}])
    assert free == [
        {
            "type": "error",
            "id": "0",
            "payload": [{"message": free[0]["payload"][0]["message"], "extensions": {"code": REQUIRED}}],
        }
    ]
    assert persisted[0]["payload"] == {"data": {"program": "miles"}}
