"""GraphQL inputs of the notification subgraph, converted to validated commands."""

from __future__ import annotations

import strawberry

from subgraphs.notification import commands, models
from subgraphs.notification.types import Category, Channel


@strawberry.input(description="A new template version for an event type, channel and locale.")
class PublishTemplateInput:
    event_type: str
    channel: Channel  # type: ignore[valid-type]
    locale: str
    category: Category  # type: ignore[valid-type]
    body: str
    subject: str | None = None

    def to_command(self) -> commands.PublishTemplate:
        return commands.PublishTemplate(event_type=self.event_type, channel=models.Channel(self.channel.value),
                                        locale=self.locale, category=models.Category(self.category.value),
                                        subject=self.subject, body=self.body)


@strawberry.input(description="Whether and where a party receives messages on a channel.")
class SetPreferenceInput:
    channel: Channel  # type: ignore[valid-type]
    enabled: bool
    address: str
    locale: str = "en"

    def to_command(self) -> commands.SetPreference:
        return commands.SetPreference(channel=models.Channel(self.channel.value), enabled=self.enabled,
                                      address=self.address, locale=self.locale)
