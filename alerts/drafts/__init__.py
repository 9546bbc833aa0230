"""Alert drafts: preview, two-person approval per tier, and the audit trail, before an alert is issued."""
