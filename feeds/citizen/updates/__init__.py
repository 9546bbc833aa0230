"""Status messages to a report's reporter: confirmation of the contact, one message per status change (issue 13)."""
