"""The emulator's address in the README answers a person with a page of its endpoints, not a 404
(issue 12, point 7)."""

from __future__ import annotations

import requests

from orders.emulator import PATHS


def test_the_emulator_root_is_a_page_listing_its_endpoints(channel_emulator):
    response = requests.get(channel_emulator.base_url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "OrderHub platform emulator" in page
    for path in [*PATHS.values(), "/kuaidi100/poll", "/_emulator/faults", "/_emulator/health"]:
        assert path in page


def test_an_unknown_path_is_still_a_404(channel_emulator):
    assert requests.get(channel_emulator.base_url + "/nowhere", timeout=10).status_code == 404
