import pytest


@pytest.fixture(autouse=True)
def _no_task_broker(settings):
    """Tests call the task bodies (services) directly; nothing is queued to the broker."""
    settings.INVENTORY_ENQUEUE_TASKS = False


@pytest.fixture
def emulator():
    """The marketplace emulator (orders/emulator.py) on a free port: real HTTP, real request
    signing, the real adapters. Push tests read `stock_updates`/`stock_levels`; reconciliation
    tests inject platform-side drift with `set_stock` and failures with `add_fault`."""
    from orders.emulator import ChannelEmulator

    emu = ChannelEmulator("127.0.0.1", 0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulated_channel(db, emulator):
    """Factory: a Channel of `platform` whose shop is registered on the emulator."""
    from orders.models import Channel

    def make(platform: str, name: str = ""):
        key = f"{platform}-key-{Channel.objects.count() + 1}"
        secrets = {
            "app_secret": f"{platform}-secret",
            "sign_secret": f"{platform}-sign",
            "access_token": f"{platform}-token",
        }
        emulator.add_shop(
            platform,
            key,
            secrets["app_secret"],
            sign_secret=secrets["sign_secret"],
            access_token=secrets["access_token"],
        )
        return Channel.objects.create(
            platform=platform,
            name=name or f"{platform} shop",
            app_key=key,
            api_base_url=emulator.url_for(platform),
            webhook_secret="s",
            **secrets,
        )

    return make
