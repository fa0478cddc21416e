"""shared.graphql's field authorization helpers: one declaration puts the directive in the SDL and refuses the field.

A tiny federation schema uses each helper; the SDL the router composes (`_service { sdl }`) carries the
directive, and the subgraph itself answers UNAUTHENTICATED / FORBIDDEN / the value, on queries and on a
subscription alike.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from strawberry.types import Info

from shared.auth import Principal
from shared.graphql import FinpaceErrors, any_role, authenticated, policy, requires_scopes


@strawberry.type
class Query:
    @strawberry.field
    def public(self) -> str:
        return "public"

    @strawberry.field(extensions=[authenticated()])
    def me(self, info: Info) -> str:
        return info.context.principal.sub

    @strawberry.field(extensions=[requires_scopes(["pii:read"], ["accounts:read", "accounts:write"])])
    def scoped(self) -> str:
        return "scoped"

    @strawberry.field(extensions=[policy(["role:ops", "role:auditor"], ["role:admin"])])
    def both_or_admin(self) -> str:
        return "policy"

    @strawberry.field(extensions=[any_role("ops", "rm")])
    def staff(self) -> str:
        return "staff"


@strawberry.type
class Subscription:
    @strawberry.subscription(extensions=[any_role("partner")])
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1


SCHEMA = strawberry.federation.Schema(
    query=Query, subscription=Subscription, federation_version="2.9", extensions=[lambda: FinpaceErrors("t")]
)


@dataclass
class Context:
    principal: Principal | None
    settings: Any = None


def caller(*roles: str, scopes: tuple[str, ...] = ()) -> Principal:
    return Principal(sub="u-1", roles=frozenset(roles), scopes=frozenset(scopes))


async def ask(field: str, principal: Principal | None) -> tuple[Any, str | None]:
    """The field's value and the first error's code."""
    result = await SCHEMA.execute(f"{{ {field} }}", context_value=Context(principal))
    code = result.errors[0].extensions["code"] if result.errors else None
    return (result.data or {}).get(field) if result.data else None, code


async def test_the_sdl_carries_each_directive() -> None:
    sdl = (await SCHEMA.execute("{ _service { sdl } }")).data["_service"]["sdl"]
    assert "me: String! @authenticated" in sdl
    assert 'scoped: String! @requiresScopes(scopes: [["pii:read"], ["accounts:read", "accounts:write"]])' in sdl
    assert 'bothOrAdmin: String! @policy(policies: [["role:ops", "role:auditor"], ["role:admin"]])' in sdl
    assert 'staff: String! @policy(policies: [["role:ops"], ["role:rm"]])' in sdl
    assert 'ticks: Int! @policy(policies: [["role:partner"]])' in sdl
    assert "public: String!\n" in sdl  # no directive where none was declared
    link = sdl.split("\n", 1)[0]  # the directives are imported from the federation spec
    assert 'import: ["@authenticated", "@policy", "@requiresScopes"]' in link


@pytest.mark.parametrize("field", ["me", "scoped", "bothOrAdmin", "staff"])
async def test_anonymous_callers_are_unauthenticated(field: str) -> None:
    assert await ask(field, None) == (None, "UNAUTHENTICATED")
    assert await ask("public", None) == ("public", None)


async def test_authenticated_admits_any_token() -> None:
    assert await ask("me", caller()) == ("u-1", None)


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [((), False), (("accounts:read",), False), (("pii:read",), True), (("accounts:read", "accounts:write"), True)],
)
async def test_a_missing_scope_is_forbidden(scopes: tuple[str, ...], allowed: bool) -> None:
    assert await ask("scoped", caller(scopes=scopes)) == (("scoped", None) if allowed else (None, "FORBIDDEN"))


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [(("ops",), False), (("auditor",), False), (("ops", "auditor"), True), (("admin",), True), (("rm",), False)],
)
async def test_policy_is_an_or_of_and_lists_of_roles(roles: tuple[str, ...], allowed: bool) -> None:
    assert await ask("bothOrAdmin", caller(*roles)) == (("policy", None) if allowed else (None, "FORBIDDEN"))


@pytest.mark.parametrize(("role", "allowed"), [("ops", True), ("rm", True), ("customer", False), ("admin", False)])
async def test_any_role_grants_each_listed_role_alone(role: str, allowed: bool) -> None:
    assert await ask("staff", caller(role)) == (("staff", None) if allowed else (None, "FORBIDDEN"))


async def _first_tick(principal: Principal | None) -> tuple[Any, str | None]:
    stream = await SCHEMA.subscribe("subscription { ticks }", context_value=Context(principal))
    async for result in stream:  # type: ignore[union-attr]
        return (result.data or {}).get("ticks") if result.data else None, (
            result.errors[0].extensions["code"] if result.errors else None
        )
    raise AssertionError("no result")


async def test_a_subscription_is_refused_before_its_first_event() -> None:
    assert await _first_tick(None) == (None, "UNAUTHENTICATED")
    assert await _first_tick(caller("customer")) == (None, "FORBIDDEN")
    assert await _first_tick(caller("partner")) == (1, None)
