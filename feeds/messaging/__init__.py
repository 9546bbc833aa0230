"""Citizen reports by SMS (Kannel, Twilio-shaped webhooks) and by email (an SMTP listener)."""
