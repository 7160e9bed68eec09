"""Every model module, imported so that ``Base.metadata`` knows all tables (migrations, tests)."""

from core import audit, inbox, tenancy
from core.db import Base
from idlink import models as idlink_models

__all__ = ["Base", "audit", "idlink_models", "inbox", "tenancy"]
