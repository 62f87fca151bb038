"""Dynamic micro-batching: concurrent requests for one signature share one session run
(batcher.py), with a bounded queue, run slots, a plan from the signature's shapes, the array
work of joining and splitting, and counters."""
