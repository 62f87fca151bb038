"""Connections age out by default, so one long-lived channel does not stay on one worker or
pod for ever; --grpc_channel_arguments still has the last word on grpc's own options."""
from __future__ import annotations

from grpc_api.server import channel_arguments, connection_age
from serving.config.settings import Settings


def test_connections_age_out_after_30_seconds_with_10_more_for_calls_in_flight():
    assert connection_age(Settings(), []) == [("grpc.max_connection_age_ms", 30_000),
                                              ("grpc.max_connection_age_grace_ms", 10_000)]


def test_the_flags_set_the_age_and_grace_in_milliseconds():
    settings = Settings.load(["--grpc_max_connection_age_seconds=2.5",
                              "--grpc_max_connection_age_grace_seconds=0.5"], environ={})
    assert connection_age(settings, []) == [("grpc.max_connection_age_ms", 2500),
                                            ("grpc.max_connection_age_grace_ms", 500)]


def test_an_age_of_zero_keeps_connections_for_ever():
    settings = Settings.load(environ={"GRPC_MAX_CONNECTION_AGE_SECONDS": "0"})
    assert connection_age(settings, []) == []


def test_channel_arguments_naming_an_age_win_over_the_flags():
    given = channel_arguments("grpc.max_connection_age_ms=300000")
    assert connection_age(Settings(), given) == [("grpc.max_connection_age_grace_ms", 10_000)]
