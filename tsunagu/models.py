"""Every model module, imported so that ``Base.metadata`` knows all tables (migrations, tests)."""

from commerce import models as commerce_models
from commerce import writeback
from core import audit, inbox, tenancy
from core.db import Base
from crm import models as crm_models
from idlink import identities
from idlink import models as idlink_models
from messaging import models as messaging_models
from staff import models as staff_models

__all__ = [
    "Base",
    "audit",
    "commerce_models",
    "crm_models",
    "identities",
    "idlink_models",
    "inbox",
    "messaging_models",
    "staff_models",
    "tenancy",
    "writeback",
]
