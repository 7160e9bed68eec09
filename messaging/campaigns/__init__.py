"""Campaigns: trigger scans, segment deliveries, previews and reports."""
