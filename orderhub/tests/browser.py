"""Waiting in the browser tests (print page, console, workbench, workflow)."""

from __future__ import annotations

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 20
PAGE_IN_FLIGHT = (NoSuchElementException, StaleElementReferenceException)


def wait(browser) -> WebDriverWait:
    """A wait that reads an element gone stale or not there yet as "not yet": after a click that
    posts a form, the condition may run against the old page while the next one replaces it."""
    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=PAGE_IN_FLIGHT)
