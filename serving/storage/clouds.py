"""An fsspec file system per URL scheme, set up from the standard environment.

s3fs, gcsfs and adlfs read the usual variables themselves (AWS_ACCESS_KEY_ID and friends,
AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST, AZURE_STORAGE_*).
Added here: TF Serving's old S3 names, so a TF Serving <= 2.6 deployment moves over
unchanged, and timeouts short enough that a dead endpoint cannot stall a worker's poller.
"""
from __future__ import annotations

import base64
import os
import re
from typing import Mapping

# URL scheme -> fsspec protocol. gs:// no longer goes through tf.io.gfile: it is copied too.
PROTOCOLS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs",
             "az": "abfs", "abfs": "abfs", "abfss": "abfs"}
_FALSE = {"0", "false", "no", "off"}
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def scheme(path: str) -> str:
    """The remote scheme of `path`, or "" for a local path (file:// included)."""
    head, sep, _ = path.partition("://")
    return head.lower() if sep and head.lower() in PROTOCOLS else ""


def filesystem(uri: str, environ: Mapping[str, str] | None = None):
    """A fresh fsspec file system for `uri` (no listing cache: every poll asks the store)."""
    import fsspec
    protocol = PROTOCOLS[scheme(uri)]
    options = s3_options(os.environ if environ is None else environ) if protocol == "s3" else {}
    fs = fsspec.filesystem(protocol, skip_instance_cache=True, use_listings_cache=False,
                           **options)
    if protocol == "abfs":
        _short_azure_retries(fs)
    return fs


def _short_azure_retries(fs) -> None:
    """Azure's storage client waits 15 s, then 18, then 24 between tries (about 90 s on a
    dead endpoint, measured); adlfs offers no setting for it, so its policy is shortened."""
    policy = getattr(getattr(getattr(fs, "service_client", None), "_config", None),
                     "retry_policy", None)
    for name, value in (("initial_backoff", 1), ("increment_base", 2), ("total_retries", 2),
                        ("connect_retries", 2), ("read_retries", 2), ("status_retries", 2)):
        if hasattr(policy, name):
            setattr(policy, name, value)


def s3_options(env: Mapping[str, str]) -> dict:
    """s3fs arguments from AWS_* and TF Serving's S3_ENDPOINT, S3_USE_HTTPS, S3_VERIFY_SSL,
    AWS_REGION; AWS_NO_SIGN_REQUEST=true reads a public bucket anonymously (GDAL's name)."""
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or ""
    if not endpoint and env.get("S3_ENDPOINT"):
        endpoint = env["S3_ENDPOINT"]
        if "://" not in endpoint:  # TF Serving's form: host:port, https unless told
            https = env.get("S3_USE_HTTPS", "1").strip().lower() not in _FALSE
            endpoint = ("https://" if https else "http://") + endpoint
    client: dict = {}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        client["region_name"] = region
    if endpoint:
        client["endpoint_url"] = endpoint
    if env.get("S3_VERIFY_SSL", "1").strip().lower() in _FALSE:
        client["verify"] = False
    return {"anon": env.get("AWS_NO_SIGN_REQUEST", "").strip().lower() in ("1", "true", "yes"),
            "client_kwargs": client,
            # botocore's default connect timeout is 60 s, tried 5 times: a poll would hang.
            "config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                              "retries": {"max_attempts": 2, "mode": "standard"}}}


def etag(info: dict) -> str:
    """What changes when an object is rewritten, whichever store listed it."""
    for key in ("ETag", "etag", "md5Hash", "generation"):
        if info.get(key):
            return str(info[key]).strip('"')
    return ""


def md5(info: dict) -> str | None:
    """The object's MD5 in hex where the store states it (S3's single-part ETag, GCS's
    md5Hash, Azure's content_md5); None where it does not (multipart uploads)."""
    match = _MD5_ETAG.match(str(info.get("ETag") or ""))
    if match:
        return match.group(1).lower()
    if info.get("md5Hash"):
        return base64.b64decode(info["md5Hash"]).hex()
    content = (info.get("content_settings") or {}).get("content_md5")
    return bytes(content).hex() if content else None


def modified(info: dict) -> float | None:
    """The object's last change, in seconds since the epoch, where the listing gives it."""
    import datetime
    value = info.get("LastModified") or info.get("last_modified") or info.get("updated")
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.timestamp() if isinstance(value, datetime.datetime) else None
