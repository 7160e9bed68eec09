"""The staff's friends list: filters, sorts and keyset pages over a shop's friends, its live
count, and the bulk actions (tags, owner, CSV export, save as a segment) over what it shows."""
