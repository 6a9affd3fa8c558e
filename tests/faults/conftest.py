"""Fault tests drive real headless Chromium too: the browser fixtures of tests/web_client."""

from typing import Iterator

import pytest

from tests.web_client.conftest import browser, open_page  # noqa: F401 (fixtures, used by name)

from .udp_cut import UdpCut


@pytest.fixture
def udp_cut() -> Iterator[UdpCut]:
    """Every ICE socket opened during the test can be cut per identity."""
    cut = UdpCut()
    undo = cut.install()
    try:
        yield cut
    finally:
        undo()
