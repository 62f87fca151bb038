from __future__ import annotations

from types import SimpleNamespace

import pytest

from serving import observe


def settings(**given) -> SimpleNamespace:
    values = {"access_log": "", "tracing": False, "request_log_url": "",
              "request_log_sample_rate": 1.0, "request_log_queue_size": 1000}
    return SimpleNamespace(**{**values, **given})


@pytest.fixture
def make_settings():
    return settings


@pytest.fixture
def configure():
    """observe.configure(settings(...)) for one test; everything off again after it."""
    def configure_with(environ=None, **given):
        observe.configure(settings(**given), environ or {})
    yield configure_with
    observe.shutdown()
    observe.configure(settings(), {})
