"""What the features share to fill the outbox: templates, planning, tracked links, cursors."""
