"""Shopify through the GraphQL Admin API (``ShopifyAPI``): customers and orders, bulk
backfills, and signed webhooks."""
