"""Segments: rule trees over a shop's friends, compiled to SQL."""
