"""Consumer lending's consumers: the product read model, and the account domain's replies to loan bookings."""

from __future__ import annotations

from shared.app import SubscriberSpec
from shared.products import product_subscriber
from subgraphs.consumer_lending.collections import on_account_reply
from subgraphs.consumer_lending.models import ProductVersion

ACCOUNT_STREAM = "FINPACE_ACCOUNT"
REPLIES_DURABLE = "consumer_lending-account-replies"

SUBSCRIBERS = [SubscriberSpec(stream=ACCOUNT_STREAM, durable=REPLIES_DURABLE, handler=on_account_reply),
               product_subscriber("consumer_lending", ProductVersion)]
