"""Destination countries: prices, coverage, and per-account activation."""
