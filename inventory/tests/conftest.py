import pytest


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    """Tests call the task bodies (services) directly; nothing is queued to the broker."""
    settings.INVENTORY_ENQUEUE_TASKS = False
