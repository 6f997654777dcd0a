"""Whole-data-directory tools: backup, restore, verify, record and class migrations, progress output."""

from __future__ import annotations
