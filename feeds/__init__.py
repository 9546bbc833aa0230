"""Intake: citizen reports, agency inputs, social posts and external feeds."""
