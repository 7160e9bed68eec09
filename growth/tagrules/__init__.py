"""Tag rules: tags added and removed automatically on purchases, bookings, links, follow
routes, form answers, tracked-link clicks and rich-menu taps, and on a lapse."""
