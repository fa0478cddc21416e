"""Corporate lending: credit applications, offers, facilities, drawdowns, repayments and covenants."""
