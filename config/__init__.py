"""Settings from the environment: the only package that reads it."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
