"""Metrics hooks the core calls; the Prometheus exporter behind them lives in this module.

The contract (names and arguments) is what the rest of the core relies on:
  observe_request(model, version, verb, status, seconds)   one REST call, any outcome
  observe_batch(model, version, signature, size, queue_wait_seconds, run_seconds)
  set_queue_length(model, version, signature, length)
  observe_load(model, version, seconds, state)
Until the exporter is wired in these do nothing, so callers never check for it.
"""
from __future__ import annotations


def observe_request(model: str, version: str, verb: str, status: int, seconds: float) -> None:
    return None


def observe_batch(model: str, version: str, signature: str, size: int,
                  queue_wait_seconds: float, run_seconds: float) -> None:
    return None


def set_queue_length(model: str, version: str, signature: str, length: int) -> None:
    return None


def observe_load(model: str, version: str, seconds: float, state: str) -> None:
    return None
