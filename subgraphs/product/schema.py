"""The product subgraph's Query and Mutation: thin resolvers over queries.py and service.py."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

import strawberry
from strawberry.types import Info

from shared.errors import InputError
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
from subgraphs.product import bundles, queries, service
from subgraphs.product.commands import code as check_code
from subgraphs.product.inputs import BundleInput, ProductDefinitionInput, ProductFilterInput
from subgraphs.product.types import Bundle, BundleResult, BundleStatusEnum, Product, ProductResult

T = TypeVar("T")
# Product managers (ops) and admins maintain the catalogue; the four-eyes check is on the person, not the role.
WRITERS = ("ops", "admin")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@strawberry.type
class Query:
    @strawberry.field(
        description="One product version by id; null when it does not exist.",
        extensions=[authenticated()],
    )
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        return await Product.load(info, parse_uuid(id))

    @strawberry.field(description="One version of a product code.", extensions=[authenticated()])
    async def product_by_code(self, info: Info, code: str, version: int) -> Product | None:
        principal = info.context.principal
        async with info.context.sessions() as session:
            row = await queries.get_product_version(session, check_code(code, field="code"), version, principal)
        return Product.of(row) if row else None

    @strawberry.field(
        description="The version of a product code on sale at a date (default: today, UTC).",
        extensions=[authenticated()],
    )
    async def product_on_sale(self, info: Info, code: str, at: dt.date | None = None) -> Product | None:
        async with info.context.sessions() as session:
            row = await queries.get_product_on_sale(session, check_code(code, field="code"), at or _today())
        return Product.of(row) if row else None

    @strawberry.field(
        description="Product versions ordered by code and version, as a cursor connection (1-100).",
        extensions=[authenticated()],
    )
    async def products(
        self, info: Info, filter: ProductFilterInput | None = None, first: int = 20, after: str | None = None
    ) -> Connection[Product]:
        principal = info.context.principal
        f = filter or ProductFilterInput()
        criteria = queries.ProductFilter(
            code=f.code,
            family=f.family.value if f.family else None,
            currency=f.currency,
            status=f.status.value if f.status else None,
            segment=f.segment,
            on_sale_at=f.on_sale_at,
        )
        async with info.context.sessions() as session:
            rows, has_next, total = await queries.list_products(
                session, filter=criteria, first=check_page_size(first), after=decode_cursor(after), principal=principal
            )
        edges = [Edge(cursor=encode_cursor([r.code, r.version]), node=Product.of(r)) for r in rows]
        return Connection(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )

    @strawberry.field(extensions=[authenticated()])
    async def bundle(self, info: Info, id: strawberry.ID | None = None, code: str | None = None) -> Bundle | None:
        if (id is None) == (code is None):
            raise InputError("Give exactly one of id and code.", field="id")
        async with info.context.sessions() as session:
            row = await queries.get_bundle(
                session, bundle_id=parse_uuid(id) if id else None, code=check_code(code, field="code") if code else None
            )
        return Bundle.of(row) if row else None

    @strawberry.field(
        description="Bundles ordered by code, as a cursor connection (1-100).",
        extensions=[authenticated()],
    )
    async def bundles(
        self, info: Info, status: BundleStatusEnum | None = None, first: int = 20, after: str | None = None
    ) -> Connection[Bundle]:
        async with info.context.sessions() as session:
            rows, has_next, total = await queries.list_bundles(
                session,
                status=status.value if status else None,
                first=check_page_size(first),
                after=decode_cursor(after),
            )
        edges = [Edge(cursor=encode_cursor([r.code]), node=Bundle.of(r)) for r in rows]
        return Connection(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Creates version 1 of a new product code as a DRAFT.",
        extensions=[any_role(*WRITERS)],
    )
    async def create_product_draft(
        self, info: Info, input: ProductDefinitionInput, idempotency_key: str
    ) -> ProductResult:
        command = input.to_command()
        return await run_command(
            service.create_product_draft(unit_of_work(info), data=command, idempotency_key=idempotency_key),
            Product.of,
        )

    @strawberry.mutation(
        description="Replaces the definition of a DRAFT version (published versions never change).",
        extensions=[any_role(*WRITERS)],
    )
    async def update_product_draft(
        self, info: Info, product_id: strawberry.ID, input: ProductDefinitionInput, reason: str
    ) -> ProductResult:
        command = input.to_command()
        return await run_command(
            service.update_product_draft(unit_of_work(info), product_id=str(product_id), data=command, reason=reason),
            Product.of,
        )

    @strawberry.mutation(
        description="Starts the next version of a product as a DRAFT copy of a published version.",
        extensions=[any_role(*WRITERS)],
    )
    async def create_product_version(
        self, info: Info, from_product_id: strawberry.ID, idempotency_key: str
    ) -> ProductResult:
        return await run_command(
            service.create_product_version(
                unit_of_work(info), product_id=str(from_product_id), idempotency_key=idempotency_key
            ),
            Product.of,
        )

    @strawberry.mutation(description="DRAFT → PENDING_APPROVAL.", extensions=[any_role(*WRITERS)])
    async def submit_product_for_approval(self, info: Info, product_id: strawberry.ID, reason: str) -> ProductResult:
        return await run_command(
            service.submit_product_for_approval(unit_of_work(info), product_id=str(product_id), reason=reason),
            Product.of,
        )

    @strawberry.mutation(
        description="PENDING_APPROVAL → APPROVED; the approver must not be the submitter.",
        extensions=[any_role(*WRITERS)],
    )
    async def approve_product_version(self, info: Info, product_id: strawberry.ID, reason: str) -> ProductResult:
        return await run_command(
            service.approve_product_version(unit_of_work(info), product_id=str(product_id), reason=reason),
            Product.of,
        )

    @strawberry.mutation(
        description="PENDING_APPROVAL → DRAFT; the rejecter must not be the submitter.",
        extensions=[any_role(*WRITERS)],
    )
    async def reject_product_version(self, info: Info, product_id: strawberry.ID, reason: str) -> ProductResult:
        return await run_command(
            service.reject_product_version(unit_of_work(info), product_id=str(product_id), reason=reason),
            Product.of,
        )

    @strawberry.mutation(
        description="APPROVED → ACTIVE, on sale from effectiveFrom; the previous version stops then.",
        extensions=[any_role(*WRITERS)],
    )
    async def publish_product_version(
        self, info: Info, product_id: strawberry.ID, effective_from: dt.date, reason: str
    ) -> ProductResult:
        return await run_command(
            service.publish_product_version(
                unit_of_work(info), product_id=str(product_id), effective_from=effective_from, reason=reason
            ),
            Product.of,
        )

    @strawberry.mutation(
        description="ACTIVE → WITHDRAWN: no new sales from effectiveAt (default today).",
        extensions=[any_role(*WRITERS)],
    )
    async def withdraw_product(
        self, info: Info, product_id: strawberry.ID, reason: str, effective_at: dt.date | None = None
    ) -> ProductResult:
        return await run_command(
            service.withdraw_product(
                unit_of_work(info), product_id=str(product_id), effective_at=effective_at, reason=reason
            ),
            Product.of,
        )

    @strawberry.mutation(
        description="WITHDRAWN → RETIRED, once the withdrawal has taken effect.",
        extensions=[any_role(*WRITERS)],
    )
    async def retire_product(self, info: Info, product_id: strawberry.ID, reason: str) -> ProductResult:
        return await run_command(
            service.retire_product(unit_of_work(info), product_id=str(product_id), reason=reason), Product.of
        )

    @strawberry.mutation(
        description="Creates an ACTIVE bundle of existing product codes.",
        extensions=[any_role(*WRITERS)],
    )
    async def create_bundle(self, info: Info, code: str, input: BundleInput, idempotency_key: str) -> BundleResult:
        command = input.to_command()
        return await run_command(
            bundles.create_bundle(unit_of_work(info), code=code, data=command, idempotency_key=idempotency_key),
            Bundle.of,
        )

    @strawberry.mutation(
        description="Replaces an ACTIVE bundle's components, price and eligibility.",
        extensions=[any_role(*WRITERS)],
    )
    async def update_bundle(
        self, info: Info, bundle_id: strawberry.ID, input: BundleInput, reason: str
    ) -> BundleResult:
        command = input.to_command()
        return await run_command(
            bundles.update_bundle(unit_of_work(info), bundle_id=str(bundle_id), data=command, reason=reason),
            Bundle.of,
        )

    @strawberry.mutation(
        description="ACTIVE → RETIRED: the bundle is no longer offered.",
        extensions=[any_role(*WRITERS)],
    )
    async def retire_bundle(self, info: Info, bundle_id: strawberry.ID, reason: str) -> BundleResult:
        return await run_command(
            bundles.retire_bundle(unit_of_work(info), bundle_id=str(bundle_id), reason=reason), Bundle.of
        )


def build_schema() -> Schema:
    """Builds the product subgraph schema (Federation 2.9)."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[Product],
        federation_version="2.9",
        extensions=[lambda: FinpaceErrors("product"), operation_metrics("product")],
    )
