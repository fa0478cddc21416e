"""RM writes are limited to the RM's portfolio: another portfolio's party answers exactly like a missing one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import issue_dev_token
from shared.config import Settings
from shared.db import idempotency_table
from subgraphs.party.models import Base
from tests.helpers import GraphQLClient
from tests.subgraphs.party.conftest import REGISTER, org_input
from tests.subgraphs.support import counts, eventually

RESULT = "{ __typename ... on DomainError { code message } }"


@dataclass
class World:
    ops: GraphQLClient
    rm: GraphQLClient  # rm_a's client
    rm_a: str
    own2: str  # a second party of rm_a's portfolio (the other end of a link)
    person: str  # a person of rm_a's portfolio (a contact role's holder)


async def _register(gql: GraphQLClient, body: dict[str, Any]) -> str:
    return str((await gql.data(REGISTER, {"input": body, "key": uuid.uuid4().hex}))["registerParty"]["id"])


async def _in_portfolio(rm: GraphQLClient, *party_ids: str) -> None:
    async def sees_all() -> bool:
        for pid in party_ids:
            if (await rm.data("query($id: ID!) { party(id: $id) { id } }", {"id": pid}))["party"] is None:
                return False
        return True

    await eventually(sees_all)  # the party read model has applied PartyRegistered's relationship manager


async def _child(w: World, mutation: str, field: str, variables: dict[str, Any]) -> str:
    """Creates a record on a party as ops and returns its id (what the RM then tries to change)."""
    result = (await w.ops.data(mutation, variables))[field]
    assert "id" in result, result
    return str(result["id"])


def _key() -> str:
    return uuid.uuid4().hex


IDENTIFIER = """mutation($p: ID!, $k: String!) { addIdentifier(partyId: $p, idempotencyKey: $k,
  input: {identifierType: "LEI", value: $k}) { __typename ... on Identifier { id } } }"""
AGREEMENT = """mutation($p: ID!, $k: String!) { offerAgreement(partyId: $p, agreementType: "BANKING",
  termsVersion: "v1", idempotencyKey: $k) { __typename ... on Agreement { id } } }"""
LINK = """mutation($from: ID!, $to: ID!, $k: String!) { linkParties(reason: "group structure", idempotencyKey: $k,
  input: {fromPartyId: $from, toPartyId: $to, relationshipType: ACTS_ON_BEHALF_OF})
  { __typename ... on PartyRelationship { id } } }"""
ROLE = """mutation($org: ID!, $person: ID!, $k: String!) { assignContactRole(idempotencyKey: $k,
  input: {organisationPartyId: $org, personPartyId: $person, role: DIRECTOR, validFrom: "2024-01-01"})
  { __typename ... on ContactRole { id } } }"""

Prepare = Callable[[World, str], Awaitable[str]]  # (world, target party) -> the id the mutation addresses


async def _party(w: World, target: str) -> str:
    return target


async def _identifier(w: World, target: str) -> str:
    return await _child(w, IDENTIFIER, "addIdentifier", {"p": target, "k": _key()})


async def _agreement(w: World, target: str) -> str:
    return await _child(w, AGREEMENT, "offerAgreement", {"p": target, "k": _key()})


async def _relationship(w: World, target: str) -> str:
    return await _child(w, LINK, "linkParties", {"from": target, "to": w.own2, "k": _key()})


async def _contact_role(w: World, target: str) -> str:
    return await _child(w, ROLE, "assignContactRole", {"org": target, "person": w.person, "k": _key()})


# (mutation, how to get the id it addresses, its variables from (world, that id), the success typename)
CASES: list[tuple[str, Prepare, Callable[[World, str], dict[str, Any]], str]] = [
    (
        """mutation($id: ID!) { updatePartyDetails(partyId: $id, input: {tradingName: "Renamed"},
       reason: "customer request") R }""",
        _party,
        lambda w, i: {"id": i},
        "Party",
    ),
    (
        """mutation($id: ID!) { submitPartyForVerification(partyId: $id, reason: "documents in") R }""",
        _party,
        lambda w, i: {"id": i},
        "Party",
    ),
    (
        """mutation($id: ID!, $k: String!) { addAddress(partyId: $id, idempotencyKey: $k, input: {addressType: POSTAL,
       lines: ["2 Low Road"], city: "Leeds", country: "GB"}) R }""",
        _party,
        lambda w, i: {"id": i, "k": _key()},
        "Address",
    ),
    (
        """mutation($id: ID!, $k: String!) { addContactPoint(partyId: $id, idempotencyKey: $k,
       input: {contactType: EMAIL, value: "ap@example.com"}) R }""",
        _party,
        lambda w, i: {"id": i, "k": _key()},
        "ContactPoint",
    ),
    (
        """mutation($id: ID!, $k: String!) { addIdentifier(partyId: $id, idempotencyKey: $k,
       input: {identifierType: "VAT", value: $k}) R }""",
        _party,
        lambda w, i: {"id": i, "k": _key()},
        "Identifier",
    ),
    (
        """mutation($id: ID!) { deactivateIdentifier(identifierId: $id, reason: "superseded") R }""",
        _identifier,
        lambda w, i: {"id": i},
        "Identifier",
    ),
    (
        """mutation($id: ID!, $k: String!) { offerAgreement(partyId: $id, agreementType: "BANKING", termsVersion: "v2",
       idempotencyKey: $k) R }""",
        _party,
        lambda w, i: {"id": i, "k": _key()},
        "Agreement",
    ),
    (
        """mutation($id: ID!) { signAgreement(agreementId: $id, reason: "signed in branch") R }""",
        _agreement,
        lambda w, i: {"id": i},
        "Agreement",
    ),
    (
        """mutation($id: ID!) { terminateAgreement(agreementId: $id, reason: "customer left") R }""",
        _agreement,
        lambda w, i: {"id": i},
        "Agreement",
    ),
    (
        LINK.replace("{ __typename ... on PartyRelationship { id } } }", "R }").replace("$from", "$id"),
        _party,
        lambda w, i: {"id": i, "to": w.own2, "k": _key()},
        "PartyRelationship",
    ),
    (
        """mutation($id: ID!) { unlinkParties(relationshipId: $id, reason: "ended") R }""",
        _relationship,
        lambda w, i: {"id": i},
        "PartyRelationship",
    ),
    (
        ROLE.replace("{ __typename ... on ContactRole { id } } }", "R }").replace("$org", "$id"),
        _party,
        lambda w, i: {"id": i, "person": w.person, "k": _key()},
        "ContactRole",
    ),
    (
        """mutation($id: ID!) { revokeContactRole(contactRoleId: $id, reason: "resigned") R }""",
        _contact_role,
        lambda w, i: {"id": i},
        "ContactRole",
    ),
    (
        """mutation($id: ID!, $k: String!) { recordConsent(idempotencyKey: $k, input: {partyId: $id, purpose: MARKETING,
       channel: EMAIL, decision: GRANTED, noticeVersion: "2024-01"}) R }""",
        _party,
        lambda w, i: {"id": i, "k": _key()},
        "Consent",
    ),
]


def _name(case: tuple[str, Prepare, Any, str]) -> str:
    return case[0].split("{", 1)[1].split("(", 1)[0].strip()


def _state(sessions: async_sessionmaker[AsyncSession]) -> Awaitable[tuple[int, ...]]:
    """Every party table, the outbox and the idempotency keys: what a refused write leaves unchanged."""
    return counts(sessions, *Base.metadata.sorted_tables, idempotency_table)


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
async def test_an_rm_writes_only_its_portfolio(
    case: tuple[str, Prepare, Callable[[World, str], dict[str, Any]], str],
    gql: GraphQLClient,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mutation, prepare, variables, success = case
    mutation = mutation.replace(" R }", f" {RESULT} }}")
    rm_a, rm_b = f"rm-a-{uuid.uuid4().hex[:6]}", f"rm-b-{uuid.uuid4().hex[:6]}"
    own = await _register(gql, org_input(relationshipManagerId=rm_a))
    own2 = await _register(gql, org_input(relationshipManagerId=rm_a))
    person = await _register(
        gql,
        {"partyType": "PERSON", "legalName": f"Pat {rm_a}", "dateOfBirth": "1980-02-03", "relationshipManagerId": rm_a},
    )
    other, other2 = [await _register(gql, org_input(relationshipManagerId=rm_b)) for _ in range(2)]
    rm = gql.with_token(issue_dev_token(settings, role="rm", sub=rm_a))
    w = World(ops=gql, rm=rm, rm_a=rm_a, own2=own2, person=person)
    await _in_portfolio(rm, own, own2, person)

    answers = {}
    for label, target in (("other", await prepare(w, other)), ("missing", str(uuid.uuid4()))):
        before = await _state(sessions)
        body = await rm(mutation, variables(w, target))
        assert await _state(sessions) == before, f"{label}: something was written"
        assert "errors" not in body, body
        answers[label] = json.dumps(body).replace(target, "<id>")
    assert answers["other"] == answers["missing"]  # another portfolio's record is indistinguishable from none
    assert json.loads(answers["missing"])["data"].popitem()[1]["code"] == "NOT_FOUND"

    body = await rm(mutation, variables(w, await prepare(w, own)))
    assert body["data"].popitem()[1]["__typename"] == success, body
    # ops is not limited to a portfolio
    assert (await gql(mutation, variables(w, await prepare(w, other2))))["data"].popitem()[1]["__typename"] == success
