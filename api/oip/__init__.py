"""The Open Inference Protocol's REST front (/v2): blueprint, codec (JSON and binary tensors),
errors (its own table). The verbs are the core's (serving/oip/)."""
