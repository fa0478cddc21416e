"""The party subgraph's Query and Mutation: thin resolvers over queries.py and service.py."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from shared import access
from shared.federation import Schema
from shared.graphql import (
    Connection,
    Edge,
    FinpaceErrors,
    PageInfo,
    any_role,
    authenticated,
    check_page_size,
    decode_cursor,
    encode_cursor,
    operation_metrics,
    parse_uuid,
    run_command,
    unit_of_work,
)
from subgraphs.party import queries, service
from subgraphs.party.inputs import (
    AddressInput,
    AssignContactRoleInput,
    ContactPointInput,
    GrantEntitlementInput,
    IdentifierInput,
    LinkPartiesInput,
    PartyFilterInput,
    RecordConsentInput,
    RegisterPartyInput,
    UpdatePartyDetailsInput,
)
from subgraphs.party.models import AgreementStatus, LifecycleAction
from subgraphs.party.types import (
    Address,
    AddressResult,
    Agreement,
    AgreementResult,
    Consent,
    ConsentResult,
    ContactPoint,
    ContactPointResult,
    ContactRole,
    ContactRoleResult,
    Entitlement,
    EntitlementResult,
    GroupNode,
    Identifier,
    IdentifierResult,
    Party,
    PartyRelationship,
    PartyResult,
    RelationshipResult,
)

T = TypeVar("T")
WRITERS = ("ops", "rm", "admin")


async def _transition(info: Info, party_id: strawberry.ID, action: LifecycleAction, reason: str) -> Any:
    return await run_command(
        service.change_party_status(unit_of_work(info), party_id=str(party_id), action=action, reason=reason),
        Party.of,
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="One party by id; null when it does not exist or is not visible to the caller.",
        extensions=[authenticated()],
    )
    async def party(self, info: Info, id: strawberry.ID) -> Party | None:
        return await Party.load(info, parse_uuid(id))

    @strawberry.field(
        description="Parties ordered by legal name, as a cursor connection (page size 1-100).",
        extensions=[authenticated()],
    )
    async def parties(
        self, info: Info, filter: PartyFilterInput | None = None, first: int = 20, after: str | None = None
    ) -> Connection[Party]:
        f = filter or PartyFilterInput()
        criteria = queries.PartyFilter(
            name_prefix=f.name_prefix,
            external_id=f.external_id,
            status=f.status.value if f.status else None,
            segment=f.segment,
            relationship_manager_id=f.relationship_manager_id,
        )
        scope = await access.scope(info)
        async with info.context.sessions() as session:
            rows, has_next, total = await queries.list_parties(
                session, filter=criteria, first=check_page_size(first), after=decode_cursor(after), scope=scope
            )
        edges = [Edge(cursor=encode_cursor([r.legal_name, str(r.id)]), node=Party.of(r)) for r in rows]
        return Connection(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )

    @strawberry.field(
        description="The whole group tree of the party's group, from its ultimate parent.",
        extensions=[authenticated()],
    )
    async def party_group(self, info: Info, party_id: strawberry.ID) -> GroupNode | None:
        party = await Party.load(info, parse_uuid(party_id, field="partyId"))
        return await party.group(info) if party else None  # type: ignore[misc]

    @strawberry.field(description="The consents in force for a party at an instant.", extensions=[authenticated()])
    async def consents_as_of(self, info: Info, party_id: strawberry.ID, at: dt.datetime) -> list[Consent]:
        party = await Party.load(info, parse_uuid(party_id, field="partyId"))
        return await party.consents(info, as_of=at) if party else []  # type: ignore[misc]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Registers a person or organisation (PROSPECT unless submitted for verification).",
        extensions=[any_role(*WRITERS)],
    )
    async def register_party(self, info: Info, input: RegisterPartyInput, idempotency_key: str) -> PartyResult:
        command = input.to_command()
        return await run_command(
            service.register_party(unit_of_work(info), data=command, idempotency_key=idempotency_key),
            Party.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def update_party_details(
        self, info: Info, party_id: strawberry.ID, input: UpdatePartyDetailsInput, reason: str
    ) -> PartyResult:
        return await run_command(
            service.update_party_details(
                unit_of_work(info), party_id=str(party_id), changes=input.to_command(), reason=reason
            ),
            Party.of,
        )

    @strawberry.mutation(description="PROSPECT → PENDING_VERIFICATION.", extensions=[any_role(*WRITERS)])
    async def submit_party_for_verification(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.SUBMIT_FOR_VERIFICATION, reason)

    @strawberry.mutation(description="PENDING_VERIFICATION → ACTIVE.", extensions=[any_role(*WRITERS)])
    async def activate_party(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.ACTIVATE, reason)

    @strawberry.mutation(description="PENDING_VERIFICATION → REJECTED.", extensions=[any_role(*WRITERS)])
    async def reject_party(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.REJECT, reason)

    @strawberry.mutation(description="ACTIVE → RESTRICTED.", extensions=[any_role(*WRITERS)])
    async def restrict_party(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.RESTRICT, reason)

    @strawberry.mutation(description="RESTRICTED → ACTIVE.", extensions=[any_role(*WRITERS)])
    async def lift_party_restriction(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.LIFT_RESTRICTION, reason)

    @strawberry.mutation(description="ACTIVE or RESTRICTED → CLOSED.", extensions=[any_role(*WRITERS)])
    async def close_party(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.CLOSE, reason)

    @strawberry.mutation(description="CLOSED → ACTIVE.", extensions=[any_role(*WRITERS)])
    async def reopen_party(self, info: Info, party_id: strawberry.ID, reason: str) -> PartyResult:
        return await _transition(info, party_id, LifecycleAction.REOPEN, reason)

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def add_address(
        self, info: Info, party_id: strawberry.ID, input: AddressInput, idempotency_key: str
    ) -> AddressResult:
        return await run_command(
            service.add_address(
                unit_of_work(info),
                party_id=str(party_id),
                data=input.to_command(),
                idempotency_key=idempotency_key,
            ),
            Address.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def add_contact_point(
        self, info: Info, party_id: strawberry.ID, input: ContactPointInput, idempotency_key: str
    ) -> ContactPointResult:
        return await run_command(
            service.add_contact_point(
                unit_of_work(info),
                party_id=str(party_id),
                data=input.to_command(),
                idempotency_key=idempotency_key,
            ),
            ContactPoint.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def add_identifier(
        self, info: Info, party_id: strawberry.ID, input: IdentifierInput, idempotency_key: str
    ) -> IdentifierResult:
        return await run_command(
            service.add_identifier(
                unit_of_work(info),
                party_id=str(party_id),
                data=input.to_command(),
                idempotency_key=idempotency_key,
            ),
            Identifier.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def deactivate_identifier(self, info: Info, identifier_id: strawberry.ID, reason: str) -> IdentifierResult:
        return await run_command(
            service.deactivate_identifier(unit_of_work(info), identifier_id=str(identifier_id), reason=reason),
            Identifier.of,
        )

    @strawberry.mutation(
        description="Links two parties; PARENT_OF links build the group hierarchy (no cycles).",
        extensions=[any_role(*WRITERS)],
    )
    async def link_parties(
        self, info: Info, input: LinkPartiesInput, reason: str, idempotency_key: str
    ) -> RelationshipResult:
        return await run_command(
            service.link_parties(
                unit_of_work(info), data=input.to_command(), reason=reason, idempotency_key=idempotency_key
            ),
            PartyRelationship.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def unlink_parties(self, info: Info, relationship_id: strawberry.ID, reason: str) -> RelationshipResult:
        return await run_command(
            service.unlink_parties(unit_of_work(info), relationship_id=str(relationship_id), reason=reason),
            PartyRelationship.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def assign_contact_role(
        self, info: Info, input: AssignContactRoleInput, idempotency_key: str
    ) -> ContactRoleResult:
        return await run_command(
            service.assign_contact_role(unit_of_work(info), data=input.to_command(), idempotency_key=idempotency_key),
            ContactRole.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def revoke_contact_role(self, info: Info, contact_role_id: strawberry.ID, reason: str) -> ContactRoleResult:
        return await run_command(
            service.revoke_contact_role(unit_of_work(info), contact_role_id=str(contact_role_id), reason=reason),
            ContactRole.of,
        )

    @strawberry.mutation(extensions=[any_role("ops", "admin")])
    async def assign_relationship_manager(
        self, info: Info, party_id: strawberry.ID, rm_id: str, reason: str
    ) -> PartyResult:
        return await run_command(
            service.assign_relationship_manager(unit_of_work(info), party_id=str(party_id), rm_id=rm_id, reason=reason),
            Party.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def offer_agreement(
        self, info: Info, party_id: strawberry.ID, agreement_type: str, terms_version: str, idempotency_key: str
    ) -> AgreementResult:
        return await run_command(
            service.offer_agreement(
                unit_of_work(info),
                party_id=str(party_id),
                agreement_type=agreement_type,
                terms_version=terms_version,
                idempotency_key=idempotency_key,
            ),
            Agreement.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def sign_agreement(self, info: Info, agreement_id: strawberry.ID, reason: str) -> AgreementResult:
        return await run_command(
            service.change_agreement(
                unit_of_work(info),
                agreement_id=str(agreement_id),
                target=AgreementStatus.SIGNED,
                reason=reason,
            ),
            Agreement.of,
        )

    @strawberry.mutation(extensions=[any_role(*WRITERS)])
    async def terminate_agreement(self, info: Info, agreement_id: strawberry.ID, reason: str) -> AgreementResult:
        return await run_command(
            service.change_agreement(
                unit_of_work(info),
                agreement_id=str(agreement_id),
                target=AgreementStatus.TERMINATED,
                reason=reason,
            ),
            Agreement.of,
        )

    @strawberry.mutation(extensions=[any_role("ops", "admin")])
    async def grant_entitlement(
        self, info: Info, input: GrantEntitlementInput, idempotency_key: str
    ) -> EntitlementResult:
        return await run_command(
            service.grant_entitlement(unit_of_work(info), data=input.to_command(), idempotency_key=idempotency_key),
            Entitlement.of,
        )

    @strawberry.mutation(extensions=[any_role("ops", "admin")])
    async def revoke_entitlement(self, info: Info, entitlement_id: strawberry.ID, reason: str) -> EntitlementResult:
        return await run_command(
            service.revoke_entitlement(unit_of_work(info), entitlement_id=str(entitlement_id), reason=reason),
            Entitlement.of,
        )

    @strawberry.mutation(
        description="Appends a consent decision (GRANTED, REFUSED or WITHDRAWN) to the ledger.",
        extensions=[authenticated()],
    )
    async def record_consent(self, info: Info, input: RecordConsentInput, idempotency_key: str) -> ConsentResult:
        command = input.to_command()
        roles = () if (await access.scope(info)).acts_for(command.party_id) else WRITERS
        return await run_command(
            service.record_consent(unit_of_work(info, *roles), data=command, idempotency_key=idempotency_key),
            Consent.of,
        )


def build_schema() -> Schema:
    """Builds the party subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Party],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("party"), operation_metrics("party")],
    )
