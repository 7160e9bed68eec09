"""The delivery outbox: planning with guardrails, claiming, sending, recording every try."""
