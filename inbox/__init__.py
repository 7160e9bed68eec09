"""The chat inbox: one conversation per friend, status marks, assignment, staff replies sent
through the outbox, internal notes and mentions."""
