"""SME Account subgraph: current accounts, a double-entry ledger, holds, overdrafts, mandates and statements."""
