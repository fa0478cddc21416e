"""Loan schedule maths shared by the lending domains: instalments, day counts, grace, APR (pure, no I/O)."""
