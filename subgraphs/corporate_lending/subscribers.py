"""The consumers corporate lending runs: replies of the account domain to drawdown disbursement requests."""

from __future__ import annotations

from shared.app import SubscriberSpec
from subgraphs.corporate_lending.facilities import on_account_reply

ACCOUNT_STREAM = "FINPACE_ACCOUNT"
REPLIES_DURABLE = "corporate_lending-account-replies"

SUBSCRIBERS = [SubscriberSpec(stream=ACCOUNT_STREAM, durable=REPLIES_DURABLE, handler=on_account_reply)]
