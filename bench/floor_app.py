"""The floor under any Flask model server: gunicorn and Flask answering the predict URL with
a fixed body, with no model, no JSON parsing and no batching. `bench/run.py --servers floor`
serves it with deploy/gunicorn.conf.py, to show what HTTP and Flask alone cost per request;
`--servers floor-wsgi` serves `bare`, the same answer with no Flask, to show Flask's share."""
from flask import Flask, Response, request

app = Flask("floor")


@app.post("/v1/models/<name>:predict")
def predict(name):
    request.get_data()
    return Response(b'{"predictions": [[0.0]]}', mimetype="application/json")


def bare(environ, start_response):
    """The same answer as a plain WSGI callable: gunicorn's HTTP work alone."""
    environ["wsgi.input"].read()
    body = b'{"predictions": [[0.0]]}'
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
