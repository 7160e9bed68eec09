"""Sandbox reservation systems: a booking system that sends signed ``reservation.v1`` webhooks,
a Cal.com webhook sender, and an iCal feed server with ETags."""
