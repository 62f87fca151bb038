"""deploy/nginx.conf in front of two gunicorn instances, as in production: load balancing,
static files, the body limit, forwarded client addresses, and failover when an instance dies."""
from __future__ import annotations

import http.client
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import ServerProcess, copy_model, eventually, write_config
from tests.support.nginx_helpers import NginxProcess
from tests.support.observe_sinks import access_lines as logged

pytestmark = pytest.mark.e2e
PREDICT = "/v1/models/half_plus_two:predict"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("nginx-e2e")
    model = copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")
    config = write_config(base / "models.config", {"half_plus_two": model})
    static = base / "static"
    static.mkdir()
    (static / "probe.txt").write_text("served by nginx\n")
    start = lambda _: ServerProcess(f"--model_config_file={config}", "--trusted_proxies=1",
                                    "--access_log=-", ready_path="/readyz")
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(start, range(2))
    (base / "nginx").mkdir()
    try:
        # max_fails=0: nginx keeps trying a dead instance first on every other request, so
        # every such request shows its failover instead of only the first one.
        nginx = NginxProcess(base / "nginx", [f"127.0.0.1:{s.port} max_fails=0" for s in (a, b)],
                             static)
    except Exception:
        a.stop(), b.stop()
        raise
    yield SimpleNamespace(a=a, b=b, nginx=nginx, url=nginx.url)
    nginx.stop()
    a.stop(), b.stop()


def access_lines(server) -> list[tuple]:
    """(client, method, target, status, model, version, verb) of each JSON access-log line."""
    return [(line["client"], line["method"], line["target"], line["status"], line["model"],
             line["version"], line["verb"])
            for line in logged(server.log_path.read_text(errors="replace"))]


def test_predictions_through_nginx_are_spread_over_both_instances(stack):
    for i in range(10):
        reply = requests.post(stack.url + PREDICT, json={"instances": [float(i)]}, timeout=30)
        assert (reply.status_code, reply.json()) == (200, {"predictions": [i / 2 + 2]})
        assert reply.headers["X-Model-Version"] == "123"
    for server in (stack.a, stack.b):
        assert eventually(lambda: any(line[2] == PREDICT for line in access_lines(server)))


def test_nginx_serves_static_files_itself(stack):
    reply = requests.get(stack.url + "/static/probe.txt", timeout=10)
    assert (reply.status_code, reply.text) == (200, "served by nginx\n")
    assert "expires" in {k.lower() for k in reply.headers}
    for server in (stack.a, stack.b):
        assert "/static/" not in server.log_path.read_text(errors="replace")


def test_nginx_refuses_a_body_over_the_apps_limit(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=10)
    connection.putrequest("POST", PREDICT)
    connection.putheader("Content-Length", str(64 * 2**20 + 1))
    connection.endheaders()   # nginx answers from the headers alone
    assert connection.getresponse().status == 413
    connection.close()


def test_the_app_sees_the_clients_address_through_proxyfix(stack):
    # The client connects from 127.0.0.2; nginx reaches gunicorn from 127.0.0.1.
    connection = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=10,
                                            source_address=("127.0.0.2", 0))
    connection.request("GET", "/v1/models/half_plus_two?probe=forwarded")
    assert connection.getresponse().status == 200
    connection.close()
    def lines():
        return [(line[0], line[4], line[6]) for s in (stack.a, stack.b) for line in access_lines(s)
                if line[2] == "/v1/models/half_plus_two?probe=forwarded"]
    assert eventually(lambda: lines() != [])
    assert lines() == [("127.0.0.2", "half_plus_two", "status")]


def test_killing_an_instance_loses_no_idempotent_request(stack):
    """Runs last: instance A is killed (SIGKILL) while GETs stream through nginx."""
    answers, stop = [], threading.Event()

    broken = []  # answers cut mid-body: A died between sending its headers and its body

    def reader(path):
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answers.append((path, session.get(stack.url + path, timeout=30).status_code))
                except requests.exceptions.ChunkedEncodingError as exc:
                    # nginx had passed the answer's start on, so it cannot send the request
                    # to B (no proxy can); the client's retry of an idempotent GET can
                    broken.append(repr(exc))
                except requests.RequestException as exc:
                    answers.append((path, repr(exc)))

    paths = ["/v1/models/half_plus_two", "/v1/models/half_plus_two/metadata"] * 2
    threads = [threading.Thread(target=reader, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    assert eventually(lambda: len(answers) >= 40), answers[-3:]  # traffic on both instances
    seen_before_kill = len(answers)
    stack.a.stop(signal.SIGKILL)
    assert eventually(lambda: len(answers) >= seen_before_kill + 100), answers[-3:]
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert seen_before_kill > 0 and len(answers) > seen_before_kill
    assert [a for a in answers if a[1] != 200] == []
    assert len(broken) <= 2, broken  # at most one answer in flight in each of A's workers

    # A POST is never resent once sent, but one refused at connect goes to the other instance.
    for i in range(10):
        reply = requests.post(stack.url + PREDICT, json={"instances": [float(i)]}, timeout=30)
        assert (reply.status_code, reply.json()) == (200, {"predictions": [i / 2 + 2]})
    a, b = f"127.0.0.1:{stack.a.port}", f"127.0.0.1:{stack.b.port}"
    failed_over = [line for line in stack.nginx.access_log().splitlines()
                   if '"POST ' in line and f"upstream={a}, {b}" in line and '" 200 ' in line]
    assert len(failed_over) >= 4, stack.nginx.access_log()[-3000:]
    assert "Connection refused" in stack.nginx.error_log()

    # What remains is ready, counts what it answered, and logged each request.
    assert requests.get(stack.url + "/readyz", timeout=10).status_code == 200
    page = requests.get(stack.url + "/monitoring/prometheus/metrics", timeout=10).text
    labels = {"entrypoint": "REST", "model": "half_plus_two", "version": "123",
              "verb": "predict", "status": "200"}
    (counted,) = [s.value for family in text_string_to_metric_families(page)
                  for s in family.samples
                  if s.name == "serving_requests_total" and s.labels == labels]

    def predicts():
        return [line for line in access_lines(stack.b) if line[1] == "POST" and line[3] == 200]
    assert eventually(lambda: len(predicts()) >= counted)
    assert len(predicts()) == counted >= 10
    assert all(line[4:7] == ("half_plus_two", "123", "predict") for line in predicts())
