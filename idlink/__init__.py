"""Friends, members and the links between them."""

# The members' search index keeps itself current through mapper events on ``Member``: imported
# with the package so that every process that writes members maintains it.
from idlink import search_index as search_index
