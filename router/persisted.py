"""Persisted operations (trusted documents): `*.graphql` files loaded at start-up, called by name or sha256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLSyntaxError, parse
from graphql.language import OperationDefinitionNode

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]
]
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
REQUIRED = "PERSISTED_QUERY_REQUIRED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
BAD_REQUEST = "BAD_REQUEST"


def sha256_hex(text: str) -> str:
    """The id Apollo clients send for a document: the sha256 of its UTF-8 text, in lowercase hex."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PersistedOperation:
    """One stored document: its operation name, the sha256 of its text, and the text itself."""

    name: str
    sha256: str
    query: str


class PersistedOperationError(ValueError):
    """A request that names a persisted operation wrongly (or must name one); answered with HTTP 400 and `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PersistedOperations(Mapping[str, PersistedOperation]):
    """The operations of one directory, keyed by operation name and by sha256."""

    def __init__(self, operations: list[PersistedOperation] | None = None) -> None:
        self._by_id: dict[str, PersistedOperation] = {}
        self.operations: list[PersistedOperation] = []
        for operation in operations or []:
            for key in (operation.name, operation.sha256):
                if key in self._by_id:
                    raise ValueError(f"Persisted operation id {key!r} is defined twice.")
                self._by_id[key] = operation
            self.operations.append(operation)

    @classmethod
    def load(cls, directory: Path | None) -> PersistedOperations:
        """Every `*.graphql` file of `directory` (sorted by name); none when it is unset or missing."""
        if directory is None or not Path(directory).is_dir():
            return cls()
        return cls([parse_operation(path) for path in sorted(Path(directory).glob("*.graphql"))])

    def __getitem__(self, key: str) -> PersistedOperation:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def names(self) -> list[str]:
        return [operation.name for operation in self.operations]

    def resolve(self, body: dict[str, Any], *, persisted_only: bool = False) -> tuple[str | None, str | None]:
        """The (query, operationName) to run for a request body; raises PersistedOperationError.

        A request names a stored document with `documentId`, `id` or Apollo's
        `extensions.persistedQuery.sha256Hash`; otherwise its own `query` is used, which
        `persisted_only` (trusted-documents mode) allows only when it is the text of a stored document.
        """
        query = body.get("query") or None
        operation_name = body.get("operationName")
        ident = requested_id(body)
        if ident is None:
            if persisted_only and isinstance(query, str) and sha256_hex(query) not in self._by_id:
                raise PersistedOperationError(
                    REQUIRED,
                    "Only persisted operations may be executed here; send a documentId or a persistedQuery hash.",
                )
            if persisted_only and query is None:
                raise PersistedOperationError(REQUIRED, "The request names no persisted operation.")
            return query, operation_name
        operation = self._by_id.get(ident)
        if operation is None:
            raise PersistedOperationError(NOT_FOUND, f"PersistedQueryNotFound: no persisted operation {ident!r}.")
        if query is not None and query != operation.query:
            # Apollo's APQ shape may carry the text along with its hash; it must be the stored text.
            raise PersistedOperationError(HASH_MISMATCH, "The query differs from the persisted operation it names.")
        return operation.query, operation_name or operation.name


def requested_id(body: dict[str, Any]) -> str | None:
    """The persisted operation a request body names, or None; raises PersistedOperationError for a bad shape."""
    for key in ("documentId", "id"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise PersistedOperationError(BAD_REQUEST, f"{key!r} must be a non-empty string.")
            return value
    extensions = body.get("extensions")
    if not isinstance(extensions, dict) or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise PersistedOperationError(BAD_REQUEST, "extensions.persistedQuery must be an object.")
    if persisted.get("version", 1) != 1:
        raise PersistedOperationError(BAD_REQUEST, "Only persistedQuery version 1 is supported.")
    value = persisted.get("sha256Hash")
    if not isinstance(value, str) or not value:
        raise PersistedOperationError(BAD_REQUEST, "extensions.persistedQuery needs a sha256Hash string.")
    return value.lower()


def parse_operation(path: Path) -> PersistedOperation:
    """Read one file holding exactly one named operation (fragments allowed); raises ValueError otherwise."""
    text = path.read_text(encoding="utf-8")
    try:
        document = parse(text)
    except GraphQLSyntaxError as exc:
        raise ValueError(f"Persisted operation {path}: {exc.message}") from exc
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise ValueError(f"Persisted operation {path} must hold exactly one named operation.")
    return PersistedOperation(name=operations[0].name.value, sha256=sha256_hex(text), query=text)


class PersistedWebSocket:
    """ASGI wrapper for the graphql-transport-ws endpoint: persisted ids in `subscribe` payloads, trusted mode.

    A `subscribe` payload may name a stored operation like an HTTP body (`documentId`, `id` or
    `extensions.persistedQuery`); the wrapper puts the stored text in `query` before the endpoint
    sees the message. An unknown id, or a free-form query under `persisted_only`, gets the
    protocol's `error` message for that operation id and never reaches the endpoint.
    """

    def __init__(self, app: ASGIApp, store: PersistedOperations, *, persisted_only: bool) -> None:
        self.app, self.store, self.persisted_only = app, store, persisted_only

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[dict]],
        send: Callable[[dict], Awaitable[None]],
    ) -> None:
        if scope["type"] != "websocket" or (not self.store and not self.persisted_only):
            await self.app(scope, receive, send)
            return

        async def receive_resolved() -> dict:
            while True:
                event = await receive()
                text = event.get("text") if event.get("type") == "websocket.receive" else None
                try:
                    message = json.loads(text) if text else None
                except ValueError:
                    message = None  # the endpoint closes the socket with 4400
                if (
                    not isinstance(message, dict)
                    or message.get("type") != "subscribe"
                    or not isinstance(message.get("payload"), dict)
                ):
                    return event
                payload = message["payload"]
                try:
                    query, operation_name = self.store.resolve(payload, persisted_only=self.persisted_only)
                except PersistedOperationError as exc:
                    error = {"message": exc.message, "extensions": {"code": exc.code}}
                    reply = {"type": "error", "id": message.get("id"), "payload": [error]}
                    await send({"type": "websocket.send", "text": json.dumps(reply)})
                    continue
                message["payload"] = {**payload, "query": query, "operationName": operation_name}
                return {**event, "text": json.dumps(message)}

        await self.app(scope, receive_resolved, send)
