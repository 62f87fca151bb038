"""Flask blueprints: each translates HTTP into calls on the serving core, and nothing else."""
from flask import current_app


def core():
    """The ServingCore this worker built in create_app()."""
    return current_app.extensions["serving"]
