"""Citizen crowd reports."""
