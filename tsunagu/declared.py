"""Every kind a ``tsunagu apply`` file holds, in the order they are applied.

Messaging's kinds first (tags, fields, tracked links, segments, sequences, campaigns...), then
follow routes, which may name the tags and sequences above them, then the inbox's marks and
canned replies, then forms (which may name fields, sequences and marks), then the tag rules (which
may name routes, links and forms), then auto-replies and FAQ entries (a rule may set a mark), last.
"""

from autoreply.declared import AUTO_REPLY_KINDS
from growth.declarations import ROUTES
from growth.forms.declarations import FORMS
from growth.tagrules.declared import TAG_RULES
from inbox.declared import INBOX_KINDS
from messaging import declarations

KINDS: list[declarations.Kind] = [
    *declarations.KINDS,
    ROUTES,
    *INBOX_KINDS,
    FORMS,
    TAG_RULES,
    *AUTO_REPLY_KINDS,
]
KIND_KEYS = [kind.key for kind in KINDS]
