"""Every kind a ``tsunagu apply`` file holds, in the order they are applied.

Messaging's kinds first (tags, fields, segments, sequences, campaigns...), then follow routes
and forms, which may name the tags, fields and sequences above them, then auto-replies and FAQ
entries, last.
"""

from autoreply.declared import AUTO_REPLY_KINDS
from growth.declarations import ROUTES
from growth.forms.declarations import FORMS
from messaging import declarations

KINDS: list[declarations.Kind] = [*declarations.KINDS, ROUTES, FORMS, *AUTO_REPLY_KINDS]
KIND_KEYS = [kind.key for kind in KINDS]
