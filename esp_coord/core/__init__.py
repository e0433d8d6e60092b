"""Shared building blocks: database types, time, crypto, audit, security."""
