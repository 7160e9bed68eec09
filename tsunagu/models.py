"""Every model module, imported so that ``Base.metadata`` knows all tables (migrations, tests)."""

from autoreply import models as autoreply_models
from commerce import models as commerce_models
from commerce import writeback
from commerce.coupons import models as coupons_models
from core import audit, inbox, tenancy
from core.db import Base
from crm import models as crm_models
from growth import models as growth_models
from growth.forms import models as forms_models
from growth.tagrules import models as tag_rules_models
from idlink import identities, search_index
from idlink import models as idlink_models
from idlink.media import models as media_models
from inbox import models as inbox_models
from messaging.campaigns import models as campaigns_models
from messaging.compose import models as compose_models
from messaging.friend_list import models as friend_list_models
from messaging.outbox import models as outbox_models
from messaging.reminders import models as reminders_models
from messaging.rich_menus import models as rich_menus_models
from messaging.segments import models as segments_models
from messaging.sequences import models as sequences_models
from privacy import models as privacy_models
from staff import models as staff_models

__all__ = [
    "Base",
    "audit",
    "autoreply_models",
    "campaigns_models",
    "commerce_models",
    "compose_models",
    "coupons_models",
    "crm_models",
    "forms_models",
    "friend_list_models",
    "growth_models",
    "identities",
    "idlink_models",
    "inbox",
    "inbox_models",
    "media_models",
    "outbox_models",
    "privacy_models",
    "reminders_models",
    "rich_menus_models",
    "search_index",
    "segments_models",
    "sequences_models",
    "staff_models",
    "tag_rules_models",
    "tenancy",
    "writeback",
]
