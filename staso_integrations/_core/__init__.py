"""Span core: the data model, context, configuration and pipeline."""
