"""The sandbox Shopify store as a FastAPI app: the GraphQL Admin endpoint, bulk result files,
and an inspection endpoint for tests and the demo."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from sandbox.shopify import graphql
from sandbox.shopify.state import ShopifyState

_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def create_app(state: ShopifyState) -> FastAPI:
    """Serve ``POST /admin/api/{version}/graphql.json`` and ``GET /bulk/{id}.jsonl``."""
    app = FastAPI(title="tsunagu sandbox Shopify", docs_url="/sandbox/docs")
    app.state.shopify = state

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql_endpoint(version: str, request: Request) -> JSONResponse:
        token = request.headers.get("x-shopify-access-token", "")
        if not hmac.compare_digest(token.encode(), state.access_token.encode()):
            with state.lock:
                state.unauthorized += 1
            return JSONResponse({"errors": _INVALID_TOKEN}, status_code=401)
        failure = state.take_failure()
        if failure is not None:
            return JSONResponse(
                {"errors": f"sandbox: injected HTTP {failure}"},
                status_code=failure,
                headers={"Retry-After": "1"} if failure == 429 else None,
            )
        try:
            body: dict[str, Any] = await request.json()
        except ValueError:
            return JSONResponse({"errors": "body is not JSON"}, status_code=400)
        query = str(body.get("query") or "")
        variables = body.get("variables") or {}
        return JSONResponse(graphql.execute(state, query, variables))

    @app.get("/bulk/{number}.jsonl")
    def bulk_result(number: str) -> FileResponse:
        operation = state.bulk_operations.get(f"gid://shopify/BulkOperation/{number}")
        if operation is None or operation.path is None:
            raise HTTPException(404, "no such bulk operation result")
        return FileResponse(operation.path, media_type="application/jsonl")

    @app.get("/sandbox/state")
    def inspect() -> dict[str, Any]:
        with state.lock:
            return {
                "shop": state.shop_domain,
                "customers": len(state.customers),
                "orders": len(state.orders),
                "throttleStatus": state.bucket.status(),
                "bulkOperations": [
                    {"id": op.id, "status": op.status, "objectCount": op.object_count}
                    for op in state.bulk_operations.values()
                ],
                "requests": len(state.requests),
            }

    return app
