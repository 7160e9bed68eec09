"""Salesforce: OAuth 2.0 JWT bearer or client credentials, incremental SOQL sync of contacts and
bookings on ``SystemModstamp``, and upserts by external id for the LINE link write-back."""
