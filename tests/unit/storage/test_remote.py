"""The remote store's rules, against fsspec's in-memory file system standing in for a bucket
(the real S3 server is in tests/e2e/test_object_storage.py)."""
import time

import fsspec
import pytest

from serving.errors import LoadError
from serving.storage import SETTLE_SECONDS, SourceError, remote
from serving.storage.remote import RemoteStore, backoff

VERSION = {"saved_model.pb": b"graph", "variables/variables.index": b"index",
           "variables/variables.data-00000-of-00001": b"weights"}


class Counting:
    """A file system that counts listings and can be made to fail."""

    def __init__(self, fs):
        self.fs, self.listings, self.broken = fs, 0, None

    def ls(self, path, **kwargs):
        self.listings += 1
        if self.broken:
            raise self.broken
        return self.fs.ls(path, **kwargs)

    def __getattr__(self, name):
        return getattr(self.fs, name)


@pytest.fixture
def bucket(tmp_path):
    fs = fsspec.filesystem("memory", skip_instance_cache=True)
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    return Counting(fs)


def upload(fs, version: int, files=VERSION):
    for name, data in files.items():
        fs.pipe_file(f"/models/m/{version}/{name}", data)


def store_of(bucket, tmp_path, poll=1.0):
    return RemoteStore("memory://models/m", str(tmp_path / "cache"), poll, fs=bucket)


def test_versions_are_the_numeric_prefixes_under_the_base_path(bucket, tmp_path):
    upload(bucket.fs, 1)
    upload(bucket.fs, 12)
    bucket.fs.pipe_file("/models/m/notes/readme.txt", b"x")
    assert store_of(bucket, tmp_path).versions() == {1: "memory://models/m/1",
                                                     12: "memory://models/m/12"}


def test_workers_polling_within_one_period_share_one_listing(bucket, tmp_path):
    upload(bucket.fs, 1)
    first, second = store_of(bucket, tmp_path), store_of(bucket, tmp_path)  # two workers
    first.versions()
    second.versions()
    assert bucket.listings == 1


def test_a_version_first_seen_mid_upload_is_not_settled_until_unchanged(bucket, tmp_path):
    store = store_of(bucket, tmp_path, poll=0.1)
    upload(bucket.fs, 1, {"saved_model.pb": b"graph", "variables/variables.index": b"index"})
    store.versions()
    assert store.fingerprint("memory://models/m/1").settled is False  # a shard is missing
    with pytest.raises(LoadError, match="still being uploaded"):
        store.local_copy("memory://models/m/1")
    upload(bucket.fs, 1)
    time.sleep(0.2)
    assert store.fingerprint("memory://models/m/1").settled is False  # changed: from now on
    time.sleep(SETTLE_SECONDS)
    assert store.fingerprint("memory://models/m/1").settled is True


def test_a_settled_version_is_copied_once_and_checked(bucket, tmp_path):
    upload(bucket.fs, 1)
    first, second = store_of(bucket, tmp_path, poll=0.1), store_of(bucket, tmp_path, poll=0.1)
    first.versions()
    first.fingerprint("memory://models/m/1")
    time.sleep(SETTLE_SECONDS + 0.2)
    assert first.fingerprint("memory://models/m/1").settled
    path = first.local_copy("memory://models/m/1")
    assert open(f"{path}/variables/variables.data-00000-of-00001", "rb").read() == b"weights"
    bucket.fs.rm("/models/m/1/saved_model.pb")  # gone from the bucket: the copy still serves
    assert second.local_copy("memory://models/m/1") == path  # the other worker's copy


def test_a_failing_listing_is_logged_once_and_retried_with_backoff(bucket, tmp_path, caplog):
    upload(bucket.fs, 1)
    store = store_of(bucket, tmp_path, poll=1.0)  # retried at the next poll, then the 2nd
    bucket.broken = PermissionError("The access key ID you provided does not exist")
    for _ in range(3):
        with pytest.raises(SourceError, match="memory://models/m.*access key") as caught:
            store.versions()
        assert caught.value.reported
    assert bucket.listings == 1  # backing off: the next two polls asked nothing
    time.sleep(0.6)
    with pytest.raises(SourceError):
        store.versions()
    assert bucket.listings == 2
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    bucket.broken = None
    time.sleep(1.6)
    assert store.versions() == {1: "memory://models/m/1"}


def test_a_version_gone_from_the_bucket_leaves_the_cache_later(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "DROP_AFTER_SECONDS", 0.3)
    upload(bucket.fs, 1)
    upload(bucket.fs, 2)
    store = store_of(bucket, tmp_path, poll=0.1)
    store.versions()
    store.fingerprint("memory://models/m/1")
    time.sleep(SETTLE_SECONDS + 0.2)
    store.fingerprint("memory://models/m/1")
    path = store.local_copy("memory://models/m/1")
    bucket.fs.rm("/models/m/1", recursive=True)
    time.sleep(0.2)
    assert store.versions() == {2: "memory://models/m/2"}
    assert store.cache.cached() == {"1"}  # still there while workers unload it
    time.sleep(0.4)
    store.versions()
    assert store.cache.cached() == set() and not (tmp_path / path).exists()


def test_a_copy_a_killed_worker_left_half_done_is_swept_and_never_used(bucket, tmp_path):
    upload(bucket.fs, 1)
    store = store_of(bucket, tmp_path)
    half = tmp_path / "cache" / store.cache.folder.rsplit("/", 1)[-1] / ".partial-1-abc"
    half.mkdir(parents=True)
    (half / "saved_model.pb").write_bytes(b"gra")
    store.versions()
    assert not half.exists() and store.cache.cached() == set()


def test_a_copy_that_fails_its_check_is_never_used_and_is_retried_after_a_backoff(bucket,
                                                                                   tmp_path):
    upload(bucket.fs, 1)
    store = store_of(bucket, tmp_path, poll=1.0)  # retried at the next poll: 0.5 s on
    store.versions()
    store.fingerprint("memory://models/m/1")
    time.sleep(SETTLE_SECONDS + 0.1)
    settled = store.fingerprint("memory://models/m/1")
    real = bucket.fs.get_file
    bucket.get_file = lambda remote_path, local_path: open(local_path, "wb").write(b"short")
    with pytest.raises(LoadError, match="cannot copy memory://models/m/1.*bytes downloaded"):
        store.local_copy("memory://models/m/1")
    assert store.cache.cached() == set()
    assert store.fingerprint("memory://models/m/1") == settled  # the manager waits
    time.sleep(0.6)
    assert store.fingerprint("memory://models/m/1").attempt == 1  # now it differs: retried
    bucket.get_file = real
    assert store.local_copy("memory://models/m/1").endswith("/1")


def test_backoff_asks_at_the_next_poll_then_ever_more_rarely_up_to_a_minute():
    polls = [backoff(2.0, n) / 2.0 for n in range(1, 5)]
    assert polls == [0.5, 1.5, 3.5, 7.5]  # due at the 1st, 2nd, 4th, 8th poll after
    assert backoff(2.0, 20) == remote.BACKOFF_MAX_SECONDS
