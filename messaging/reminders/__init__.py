"""Visit reminders: a message before each booking."""
