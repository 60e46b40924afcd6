"""Suites are run against whatever ``--zdm-target`` provides; shared helpers for them live here."""
