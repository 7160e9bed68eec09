"""Auto-replies and FAQ: keyword rules and question-answer entries that answer a friend's text
message for free with its reply token, through the outbox, and act on the friend (tags, fields,
sequences, account link)."""
