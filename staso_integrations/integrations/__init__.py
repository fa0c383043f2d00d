"""Integrations: one Instrumentor per supported library, found through ``_registry``."""
