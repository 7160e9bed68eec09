"""Rich menus by segment: which menu each friend is given."""
