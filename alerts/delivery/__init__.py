"""Fan-out of issued alerts to subscribers, the delivery ledger, channel workers and receipts."""
