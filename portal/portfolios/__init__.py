"""The portfolios area."""
