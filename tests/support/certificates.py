"""A throw-away certificate authority for the TLS tests: a CA, a server certificate for
127.0.0.1 and localhost, and a client certificate, all PEM, made fresh in each test run."""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Pem:
    key: bytes
    cert: bytes


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca=False, usage=None,
                 names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_authority() -> tuple[Pem, Pem, Pem]:
    """(ca, server, client) key and certificate pairs."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = _certificate("test CA", ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    server = _certificate("localhost", server_key, ca_name, ca_key,
                          usage=ExtendedKeyUsageOID.SERVER_AUTH,
                          names=(x509.DNSName("localhost"),
                                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))))
    client = _certificate("a client", client_key, ca_name, ca_key,
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return (Pem(_key_pem(ca_key), ca.public_bytes(pem)),
            Pem(_key_pem(server_key), server.public_bytes(pem)),
            Pem(_key_pem(client_key), client.public_bytes(pem)))


def ssl_config_text(server: Pem, ca: Pem | None, client_verify: bool) -> str:
    """TF Serving's SSLConfig text proto, the PEM texts inline."""
    def quoted(data: bytes) -> str:
        return '"' + data.decode().replace("\n", "\\n") + '"'
    lines = [f"server_key: {quoted(server.key)}", f"server_cert: {quoted(server.cert)}"]
    if ca is not None:
        lines.append(f"custom_ca: {quoted(ca.cert)}")
    lines.append(f"client_verify: {'true' if client_verify else 'false'}")
    return "\n".join(lines) + "\n"
