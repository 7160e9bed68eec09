"""Coupon pools: per-friend Shopify codes, each handed out once and traced to its order."""
