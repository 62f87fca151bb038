"""The gRPC front: TensorFlow Serving's PredictionService and ModelService (tensorflow-serving-api's
messages), served by every gunicorn worker from the same loaded models as REST.

    server.py      the grpc server of one worker: port, UNIX socket, TLS, health, reflection
    servicers.py   the RPCs: request proto → serving/requests.py → core → response proto
    responses.py   core results → TF Serving's response messages
    errors.py      the core's typed errors → gRPC status codes, in one table
"""
