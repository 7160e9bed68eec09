"""Reservation systems: the signed generic ``reservation.v1`` webhook, Cal.com, and iCal feeds."""
