"""Initial party schema: parties and their parts, plus the outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('parties',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('party_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('trading_name', sa.String(length=200), nullable=True),
    sa.Column('legal_form', sa.String(length=64), nullable=True),
    sa.Column('registration_number', sa.String(length=64), nullable=True),
    sa.Column('incorporation_date', sa.Date(), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('industry_code', sa.String(length=16), nullable=True),
    sa.Column('segment', sa.String(length=32), nullable=True),
    sa.Column('tax_residences', sa.ARRAY(sa.String(length=2)), nullable=False),
    sa.Column('relationship_manager_id', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    op.create_index(op.f('ix_parties_relationship_manager_id'), 'parties', ['relationship_manager_id'], unique=False)
    op.create_index(op.f('ix_parties_segment'), 'parties', ['segment'], unique=False)
    op.create_index(op.f('ix_parties_status'), 'parties', ['status'], unique=False)
    op.create_index('parties_name_order', 'parties', ['legal_name', 'id'], unique=False)
    op.create_table('addresses',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('address_type', sa.String(length=16), nullable=False),
    sa.Column('lines', sa.ARRAY(sa.String(length=200)), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_addresses_party_id'), 'addresses', ['party_id'], unique=False)
    op.create_table('agreements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('agreement_type', sa.String(length=64), nullable=False),
    sa.Column('terms_version', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by', sa.String(length=128), nullable=True),
    sa.Column('terminated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_agreements_party_id'), 'agreements', ['party_id'], unique=False)
    op.create_table('consents',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('notice_version', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('captured_by', sa.String(length=128), nullable=False),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('supersedes_id', sa.UUID(), nullable=True),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('consents_lookup', 'consents', ['party_id', 'purpose', 'channel', 'captured_at'], unique=False)
    op.create_table('contact_points',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('contact_type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=254), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_contact_points_party_id'), 'contact_points', ['party_id'], unique=False)
    op.create_table('contact_roles',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('organisation_party_id', sa.UUID(), nullable=False),
    sa.Column('person_party_id', sa.UUID(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_party_id'], ['parties.id'], ),
    sa.ForeignKeyConstraint(['person_party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_contact_roles_organisation_party_id'), 'contact_roles', ['organisation_party_id'], unique=False)
    op.create_index(op.f('ix_contact_roles_person_party_id'), 'contact_roles', ['person_party_id'], unique=False)
    op.create_table('entitlements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('user_sub', sa.String(length=128), nullable=False),
    sa.Column('permissions', sa.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_entitlements_party_id'), 'entitlements', ['party_id'], unique=False)
    op.create_index(op.f('ix_entitlements_user_sub'), 'entitlements', ['user_sub'], unique=False)
    op.create_table('identifiers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('identifier_type', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('issuer_country', sa.String(length=2), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('identifier_type', 'value', name='identifiers_type_value_key')
    )
    op.create_index('identifiers_one_active_per_type', 'identifiers', ['party_id', 'identifier_type'], unique=True, postgresql_where=sa.text("status = 'ACTIVE'"))
    op.create_index(op.f('ix_identifiers_party_id'), 'identifiers', ['party_id'], unique=False)
    op.create_table('party_relationships',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('from_party_id', sa.UUID(), nullable=False),
    sa.Column('to_party_id', sa.UUID(), nullable=False),
    sa.Column('relationship_type', sa.String(length=32), nullable=False),
    sa.Column('ownership_pct', sa.Numeric(precision=7, scale=4), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['from_party_id'], ['parties.id'], ),
    sa.ForeignKeyConstraint(['to_party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_party_relationships_from_party_id'), 'party_relationships', ['from_party_id'], unique=False)
    op.create_index(op.f('ix_party_relationships_to_party_id'), 'party_relationships', ['to_party_id'], unique=False)
    op.create_index('party_relationships_one_active', 'party_relationships', ['from_party_id', 'to_party_id', 'relationship_type'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('rm_assignments',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('party_id', sa.UUID(), nullable=False),
    sa.Column('rm_id', sa.String(length=64), nullable=False),
    sa.Column('assigned_by', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rm_assignments_party_id'), 'rm_assignments', ['party_id'], unique=False)
    create_platform_tables(op.get_bind())


def downgrade() -> None:
    drop_platform_tables(op.get_bind())
    op.drop_index(op.f('ix_rm_assignments_party_id'), table_name='rm_assignments')
    op.drop_table('rm_assignments')
    op.drop_index('party_relationships_one_active', table_name='party_relationships', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index(op.f('ix_party_relationships_to_party_id'), table_name='party_relationships')
    op.drop_index(op.f('ix_party_relationships_from_party_id'), table_name='party_relationships')
    op.drop_table('party_relationships')
    op.drop_index(op.f('ix_identifiers_party_id'), table_name='identifiers')
    op.drop_index('identifiers_one_active_per_type', table_name='identifiers', postgresql_where=sa.text("status = 'ACTIVE'"))
    op.drop_table('identifiers')
    op.drop_index(op.f('ix_entitlements_user_sub'), table_name='entitlements')
    op.drop_index(op.f('ix_entitlements_party_id'), table_name='entitlements')
    op.drop_table('entitlements')
    op.drop_index(op.f('ix_contact_roles_person_party_id'), table_name='contact_roles')
    op.drop_index(op.f('ix_contact_roles_organisation_party_id'), table_name='contact_roles')
    op.drop_table('contact_roles')
    op.drop_index(op.f('ix_contact_points_party_id'), table_name='contact_points')
    op.drop_table('contact_points')
    op.drop_index('consents_lookup', table_name='consents')
    op.drop_table('consents')
    op.drop_index(op.f('ix_agreements_party_id'), table_name='agreements')
    op.drop_table('agreements')
    op.drop_index(op.f('ix_addresses_party_id'), table_name='addresses')
    op.drop_table('addresses')
    op.drop_index('parties_name_order', table_name='parties')
    op.drop_index(op.f('ix_parties_status'), table_name='parties')
    op.drop_index(op.f('ix_parties_segment'), table_name='parties')
    op.drop_index(op.f('ix_parties_relationship_manager_id'), table_name='parties')
    op.drop_table('parties')

