"""The serving core: models, versions, batching and TF Serving's JSON rules. Never imports Flask."""
