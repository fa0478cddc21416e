"""Party & customer reference: parties, groups, roles, RMs, agreements, entitlements, consents (finpace.party.*)."""
