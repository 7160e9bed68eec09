"""Sandbox Salesforce org: OAuth token endpoint (JWT bearer, client credentials), SOQL query and
queryAll with paging, sObject create/update/delete/upsert, sObject Collections upsert, the
``Sforce-Limit-Info`` header, a rolling API allocation, and failure injection."""
