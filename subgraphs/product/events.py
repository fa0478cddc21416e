"""Events the product domain publishes on finpace.product.> (the only module other domains may import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ProductEvent(DomainEvent):
    """An event about one product version (aggregate id = the version's id)."""

    domain: ClassVar[str] = "product"
    aggregate: ClassVar[str] = "product"
    product_id: str
    code: str
    version: int


@dataclass(frozen=True, kw_only=True)
class ProductDraftCreated(ProductEvent):
    family: str
    currency: str
    supersedes_version: int | None


@dataclass(frozen=True, kw_only=True)
class ProductDraftUpdated(ProductEvent):
    changed_fields: list[str]


@dataclass(frozen=True, kw_only=True)
class ProductSubmittedForApproval(ProductEvent):
    submitted_by: str


@dataclass(frozen=True, kw_only=True)
class ProductApprovalRejected(ProductEvent):
    rejected_by: str


@dataclass(frozen=True, kw_only=True)
class ProductVersionApproved(ProductEvent):
    submitted_by: str
    approved_by: str


@dataclass(frozen=True, kw_only=True)
class ProductVersionPublished(ProductEvent):
    """A version goes on sale from effective_from; the version it supersedes stops selling that day."""

    family: str
    currency: str
    effective_from: str
    supersedes_version: int | None
    superseded_product_id: str | None
    # The version's terms as published (pricing, charges, lending ranges; Decimals as strings), so
    # the domains that sell it price from the version itself. Absent from events published before it travelled.
    terms: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ProductWithdrawn(ProductEvent):
    """The version is no longer sold from effective_at; existing contracts stay on it."""

    effective_at: str


@dataclass(frozen=True, kw_only=True)
class ProductRetired(ProductEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class ChargeDefinitionChanged(ProductEvent):
    """The charges of a draft changed, or a published version sells with different charges than its predecessor."""

    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass(frozen=True, kw_only=True)
class BundleChanged(DomainEvent):
    domain: ClassVar[str] = "product"
    aggregate: ClassVar[str] = "bundle"
    bundle_id: str
    code: str
    change: str
    product_codes: list[str]
    status: str
