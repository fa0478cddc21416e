"""Product reads: batched loaders, the product list, lookups by code and version and the version on sale at a date."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Select, and_, any_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import Principal
from subgraphs.product.models import PUBLISHED, Bundle, BundleComponent, Product

STAFF_ROLES = ("ops", "admin", "rm", "auditor")


def sees_unpublished(principal: Principal | None) -> bool:
    """Tells whether the caller may see versions that are not published yet (drafts and approvals are internal)."""
    return principal is None or principal.has_role(*STAFF_ROLES)


def _visible(stmt: Select[Any], principal: Principal | None) -> Select[Any]:
    if sees_unpublished(principal):
        return stmt
    return stmt.where(Product.status.in_([s.value for s in PUBLISHED]))


async def load_products_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID],
                               principal: Principal | None = None) -> list[Product | None]:
    """Loads product versions in one query, in the order asked (None where missing or not visible)."""
    rows = (await session.execute(_visible(select(Product).where(Product.id.in_(ids)), principal))).scalars().all()
    by_id = {row.id: row for row in rows}
    return [by_id.get(i) for i in ids]


@dataclass
class ProductLoaders:
    """Per-request DataLoaders: N products (an _entities batch) or N bundles' components cost one query each."""

    sessions: async_sessionmaker[AsyncSession]
    principal: Principal | None
    product: DataLoader = field(init=False)
    components: DataLoader = field(init=False)

    def __post_init__(self) -> None:
        async def batch_products(ids: list[uuid.UUID]) -> list[Product | None]:
            async with self.sessions() as session:
                return await load_products_by_ids(session, ids, self.principal)

        async def batch_components(ids: list[uuid.UUID]) -> list[list[BundleComponent]]:
            async with self.sessions() as session:
                rows = (await session.execute(select(BundleComponent).where(BundleComponent.bundle_id.in_(ids))
                                              .order_by(BundleComponent.position))).scalars().all()
            grouped: dict[uuid.UUID, list[BundleComponent]] = defaultdict(list)
            for row in rows:
                grouped[row.bundle_id].append(row)
            return [grouped.get(i, []) for i in ids]

        self.product = DataLoader(batch_products)
        self.components = DataLoader(batch_components)


def make_loaders(sessions: async_sessionmaker[AsyncSession], principal: Principal | None,
                 access: Any = None) -> ProductLoaders:
    """Builds the loaders of one request (products are not customer data: the request's access state is unused)."""
    return ProductLoaders(sessions, principal)


async def get_product_version(session: AsyncSession, code: str, version: int,
                              principal: Principal | None = None) -> Product | None:
    """Returns one version of a product code."""
    return (await session.execute(_visible(
        select(Product).where(Product.code == code, Product.version == version), principal))).scalar_one_or_none()


def _on_sale(at: dt.date) -> Any:
    return and_(Product.status.in_([s.value for s in PUBLISHED]), Product.effective_from <= at,
                or_(Product.effective_to.is_(None), Product.effective_to > at))


async def get_product_on_sale(session: AsyncSession, code: str, at: dt.date) -> Product | None:
    """Returns the version of a code that may be sold on `at` (effectiveFrom <= at < effectiveTo), if any."""
    return (await session.execute(
        select(Product).where(Product.code == code, _on_sale(at))
        .order_by(Product.effective_from.desc(), Product.version.desc()).limit(1))).scalar_one_or_none()


async def list_product_versions(session: AsyncSession, code: str,
                                principal: Principal | None = None) -> list[Product]:
    """Returns every version of a product code, oldest first."""
    return list((await session.execute(_visible(select(Product).where(Product.code == code), principal)
                                       .order_by(Product.version))).scalars())


@dataclass(frozen=True)
class ProductFilter:
    code: str | None = None
    family: str | None = None
    currency: str | None = None
    status: str | None = None
    segment: str | None = None
    on_sale_at: dt.date | None = None


async def list_products(session: AsyncSession, *, filter: ProductFilter, first: int, after: list[Any] | None,
                        principal: Principal | None = None) -> tuple[list[Product], bool, int]:
    """Returns one page of product versions ordered by (code, version), whether more follow, and the total."""
    conditions: list[Any] = []
    for column, value in [(Product.code, filter.code), (Product.family, filter.family),
                          (Product.currency, filter.currency), (Product.status, filter.status)]:
        if value is not None:
            conditions.append(column == value)
    if filter.segment is not None:
        conditions.append(any_(Product.eligible_segments) == filter.segment)
    if filter.on_sale_at is not None:
        conditions.append(_on_sale(filter.on_sale_at))
    base = _visible(select(Product).where(and_(True, *conditions)), principal)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    page = base
    if after is not None and len(after) == 2:
        code, version = str(after[0]), int(after[1])
        page = page.where(or_(Product.code > code, and_(Product.code == code, Product.version > version)))
    rows = list((await session.execute(page.order_by(Product.code, Product.version).limit(first + 1))).scalars())
    return rows[:first], len(rows) > first, total


async def get_bundle(session: AsyncSession, *, bundle_id: uuid.UUID | None = None,
                     code: str | None = None) -> Bundle | None:
    """Returns a bundle by id or by code."""
    condition = Bundle.id == bundle_id if bundle_id is not None else Bundle.code == code
    return (await session.execute(select(Bundle).where(condition))).scalar_one_or_none()


async def list_bundles(session: AsyncSession, *, status: str | None, first: int,
                       after: list[Any] | None) -> tuple[list[Bundle], bool, int]:
    """Returns one page of bundles ordered by code."""
    base = select(Bundle).where(Bundle.status == status) if status else select(Bundle)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    page = base.where(Bundle.code > str(after[0])) if after else base
    rows = list((await session.execute(page.order_by(Bundle.code).limit(first + 1))).scalars())
    return rows[:first], len(rows) > first, total
