"""Growth: follow routes (a short URL and QR code per poster, flyer or banner), the visits and
follows attributed to them, the actions they run and their reports."""
