"""Session fixtures: one private Cyrus (dot and slash hierarchy) and one Courier per test session.

Load with ``pytest_plugins = ["tests.servers.fixtures"]``. A server that is not unpacked or cannot start fails
the tests that use it with the reason and the install hint; nothing is skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

import pytest

from .common import PrivateServer, ServerError
from .courier import Courier
from .cyrus import Cyrus

S = TypeVar("S", bound=PrivateServer)


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """Start ``server`` for the duration of a fixture, turning a start failure into a test failure."""
    try:
        server.start()
    except ServerError as exc:
        pytest.fail(f"{server.kind} did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cyrus_dot() -> Iterator[Cyrus]:
    """Cyrus with altnamespace 0 + unixhierarchysep 0: ``INBOX.Sent``, separator ``.``."""
    with running(Cyrus("dot")) as server:
        yield server


@pytest.fixture(scope="session")
def cyrus_slash() -> Iterator[Cyrus]:
    """Cyrus with the 3.x defaults: ``Sent`` beside INBOX, separator ``/``."""
    with running(Cyrus("slash")) as server:
        yield server


@pytest.fixture(scope="session")
def courier() -> Iterator[Courier]:
    """Courier-IMAP: ``INBOX.Sent``, separator ``.``, no SPECIAL-USE."""
    with running(Courier()) as server:
        yield server
