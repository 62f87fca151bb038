"""The floor under any Flask model server: gunicorn and Flask answering the predict URL with
a fixed body, with no model, no JSON parsing and no batching. `bench/run.py --servers floor`
serves it with deploy/gunicorn.conf.py, to show what HTTP and Flask alone cost per request."""
from flask import Flask, Response, request

app = Flask("floor")


@app.post("/v1/models/<name>:predict")
def predict(name):
    request.get_data()
    return Response(b'{"predictions": [[0.0]]}', mimetype="application/json")
