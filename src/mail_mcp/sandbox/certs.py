"""The sandbox's TLS certificate: a fresh self-signed CA certificate for 127.0.0.1 and localhost, made with openssl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mail_mcp.sandbox.processes import SandboxError


def make_cert(cert_path: Path, key_path: Path) -> None:
    """Write a self-signed EC certificate valid for 30 days (it is also the CA clients verify against)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SandboxError("openssl CLI not found: install it with `sudo apt-get install openssl`")
    cmd = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key_path),
        "-out",
        str(cert_path),
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext",
        "extendedKeyUsage=serverAuth",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"openssl failed to create the sandbox certificate: {done.stderr.strip()}")
