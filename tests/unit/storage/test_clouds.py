"""Each scheme's file system, set up from the environment a TF Serving deployment already has;
gs:// against Google Cloud Storage's emulator (PyPI gcp-storage-emulator). Azure has no
emulator on PyPI (Azurite is npm only), so az:// is checked up to its client here."""
import hashlib
import time

import pytest

from serving.storage import SETTLE_SECONDS, clouds, is_remote
from tests.support.helpers import free_port


@pytest.mark.parametrize("path, remote", [
    ("s3://bucket/models/m", True), ("gs://bucket/m", True), ("az://container/m", True),
    ("abfs://container@account.dfs.core.windows.net/m", True), ("/models/m", False),
    ("file:///models/m", False), ("models/m", False),
])
def test_the_url_alone_picks_the_store(path, remote):
    assert is_remote(path) is remote


def test_tf_servings_old_s3_names_still_configure_the_client():
    options = clouds.s3_options({"S3_ENDPOINT": "minio.local:9000", "S3_USE_HTTPS": "0",
                                 "S3_VERIFY_SSL": "0", "AWS_REGION": "eu-west-3"})
    assert options["client_kwargs"] == {"endpoint_url": "http://minio.local:9000",
                                        "region_name": "eu-west-3", "verify": False}
    assert options["anon"] is False


def test_the_standard_endpoint_wins_and_https_is_the_default():
    assert clouds.s3_options({"S3_ENDPOINT": "s3.internal"})["client_kwargs"] == {
        "endpoint_url": "https://s3.internal"}
    assert clouds.s3_options({"AWS_ENDPOINT_URL": "http://a:1", "S3_ENDPOINT": "b:2",
                              "AWS_DEFAULT_REGION": "us-east-2"})["client_kwargs"] == {
        "endpoint_url": "http://a:1", "region_name": "us-east-2"}


def test_a_public_bucket_is_read_unsigned_when_asked():
    assert clouds.s3_options({"AWS_NO_SIGN_REQUEST": "true"})["anon"] is True


def test_each_stores_listing_gives_a_checkable_md5():
    data_md5 = hashlib.md5(b"x").hexdigest()
    assert clouds.md5({"ETag": f'"{data_md5}"'}) == data_md5
    assert clouds.md5({"ETag": '"0123-2"'}) is None  # multipart: size only
    assert clouds.md5({"md5Hash": "nXJJQzUnsJtzxTrVsKmeUg=="}) == "9d7249433527b09b73c53ad5b0a99e52"
    assert clouds.md5({"content_settings": {"content_md5": bytearray(bytes.fromhex(data_md5))}}
                      ) == data_md5


def test_azure_takes_its_connection_string_from_the_environment(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                       "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFP"
                       "TOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;")
    fs = clouds.filesystem("az://models/m")
    assert fs.service_client.url == "http://127.0.0.1:1/devstoreaccount1/"
    started = time.monotonic()
    with pytest.raises(Exception, match="127.0.0.1:1"):
        fs.ls("models/m", refresh=True)  # nothing listens there: fails fast, not in 90 s
    assert time.monotonic() - started < 15


@pytest.fixture
def gcs(monkeypatch):
    from gcp_storage_emulator.server import create_server
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="models")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield clouds.filesystem("gs://models/m")
    server.stop()


def test_a_gs_base_path_lists_settles_and_copies_through_the_same_store(gcs, tmp_path):
    from serving.storage.remote import RemoteStore
    gcs.pipe_file("models/m/3/saved_model.pb", b"graph")
    store = RemoteStore("gs://models/m", str(tmp_path), 0.1, fs=gcs)
    assert store.versions() == {3: "gs://models/m/3"}
    store.fingerprint("gs://models/m/3")
    time.sleep(SETTLE_SECONDS + 0.1)
    assert store.fingerprint("gs://models/m/3").settled
    path = store.local_copy("gs://models/m/3")
    assert open(f"{path}/saved_model.pb", "rb").read() == b"graph"
