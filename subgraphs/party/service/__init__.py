"""Party use cases: one async function per command, each one transaction that writes its events to the outbox."""

from subgraphs.party.service.arrangements import (
    change_agreement,
    grant_entitlement,
    offer_agreement,
    record_consent,
    revoke_entitlement,
)
from subgraphs.party.service.network import assign_contact_role, link_parties, revoke_contact_role, unlink_parties
from subgraphs.party.service.parties import (
    add_address,
    add_contact_point,
    add_identifier,
    assign_relationship_manager,
    change_party_status,
    deactivate_identifier,
    register_party,
    update_party_details,
)

__all__ = [
    "add_address", "add_contact_point", "add_identifier", "assign_contact_role", "assign_relationship_manager",
    "change_agreement", "change_party_status", "deactivate_identifier", "grant_entitlement", "link_parties",
    "offer_agreement", "record_consent", "register_party", "revoke_contact_role", "revoke_entitlement",
    "unlink_parties", "update_party_details",
]
