"""A sandbox Shopify store: the GraphQL Admin API subset the hub uses, with query cost and
throttling, bulk operations, signed webhooks and a generator of synthetic orders."""
