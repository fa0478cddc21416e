"""The consumers consumer lending runs: the account domain's replies to loan disbursements and repayments."""

from __future__ import annotations

from shared.app import SubscriberSpec
from subgraphs.consumer_lending.collections import on_account_reply

ACCOUNT_STREAM = "FINPACE_ACCOUNT"
REPLIES_DURABLE = "consumer_lending-account-replies"

SUBSCRIBERS = [SubscriberSpec(stream=ACCOUNT_STREAM, durable=REPLIES_DURABLE, handler=on_account_reply)]
