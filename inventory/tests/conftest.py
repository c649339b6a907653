import pytest


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    """Tests call the task bodies (services) directly; nothing is queued to the broker."""
    settings.INVENTORY_ENQUEUE_TASKS = False


@pytest.fixture
def platform(monkeypatch):
    """A real HTTP platform; channels with platform="manual" talk to it through http_platform.Adapter."""
    from inventory.tests.http_platform import PlatformServer
    from orders import channels

    monkeypatch.setitem(channels.ADAPTER_MODULES, "manual", "inventory.tests.http_platform")
    with PlatformServer() as server:
        yield server
