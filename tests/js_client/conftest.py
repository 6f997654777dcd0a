"""Fixtures of the JavaScript client's browser tests: the dashboard tests' headless Chromium."""

from __future__ import annotations

from tests.dashboard.conftest import browser, playwright

__all__ = ["browser", "playwright"]
