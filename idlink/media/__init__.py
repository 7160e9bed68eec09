"""Media friends send (images, videos, audio, files): fetched from LINE at intake, kept in a
storage every hub machine shares, served to signed-in staff, purged after its retention."""
