"""What the hub holds on one person, and the rights they have over it: export, erasure, consent
per purpose, and how long raw data is kept (APPI, Shopify's privacy webhooks)."""
