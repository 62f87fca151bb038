"""Operator changes: pins, traffic splits and labels, decided from and written to the disk
under a lock (store, control), and the per-worker poller that applies what is on disk."""
