"""Consumer lending: quotes, applications, decisioning, contracts, loans, delinquency and hardship."""
