"""The account's consumers: the product read model, and the lending disbursement and repayment requests it answers."""

from __future__ import annotations

from shared.app import SubscriberSpec
from shared.products import product_subscriber
from subgraphs.account.disbursements import on_disbursement_requested, on_repayment_requested
from subgraphs.account.models import ProductVersion

PRODUCT_SUBSCRIBERS = [product_subscriber("account", ProductVersion)]
# The disbursement saga (docs/lending.md), durables in nats/consumers/account-*-lending.json.
LENDING_SUBSCRIBERS = [
    SubscriberSpec(stream="FINPACE_CONSUMER_LENDING", durable="account-consumer-lending",
                   handler=on_disbursement_requested),
    SubscriberSpec(stream="FINPACE_CORPORATE_LENDING", durable="account-corporate-lending",
                   handler=on_disbursement_requested),
    # The repayment saga: durables in nats/consumers/account-*-lending-repayments.json.
    SubscriberSpec(stream="FINPACE_CONSUMER_LENDING", durable="account-consumer-lending-repayments",
                   handler=on_repayment_requested),
    SubscriberSpec(stream="FINPACE_CORPORATE_LENDING", durable="account-corporate-lending-repayments",
                   handler=on_repayment_requested),
]
SUBSCRIBERS = PRODUCT_SUBSCRIBERS + LENDING_SUBSCRIBERS
