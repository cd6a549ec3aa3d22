"""The private Cyrus (dot and slash hierarchy) and Courier servers start, work, and show their known quirks.

The exact texts below are what Cyrus IMAP 3.6.1 (Debian 3.6.1-4+deb12u5) and Courier-IMAP 5.0.13 (Debian
5.0.13+1.0.16-3+b6) answer; they are evidence for mail-mcp's error mapping, so a change should fail here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail_mcp.config.sources import load_settings

from .servers.common import (
    PrivateServer,
    Response,
    ServerError,
    append_response,
    command,
    marked,
    namespace_members,
    quote,
    read_greeting,
)
from .servers.courier import Courier
from .servers.cyrus import Cyrus

pytest_plugins = ["tests.servers.fixtures"]

KINDS = ("cyrus-dot", "cyrus-slash", "courier")
FACTORIES: dict[str, Callable[[], PrivateServer]] = {
    "cyrus-dot": lambda: Cyrus("dot"),
    "cyrus-slash": lambda: Cyrus("slash"),
    "courier": Courier,
}
FIXTURES = {"cyrus-dot": "cyrus_dot", "cyrus-slash": "cyrus_slash", "courier": "courier"}

# NAMESPACE as imapclient parses it: (personal, other users, shared).
NAMESPACES = {
    "cyrus-dot": ((("INBOX.", "."),), (("user.", "."),), (("", "."),)),
    "cyrus-slash": ((("", "/"),), (("Other Users/", "/"),), (("Shared Folders/", "/"),)),
    "courier": ((("INBOX.", "."),), None, (("#shared.", "."), ("shared.", "."))),
}
FOLDERS = {
    "cyrus-dot": {
        "\\Sent": "INBOX.Sent",
        "\\Drafts": "INBOX.Drafts",
        "\\Trash": "INBOX.Trash",
        "\\Junk": "INBOX.Junk",
        "\\Archive": "INBOX.Archive",
    },
    "cyrus-slash": {
        "\\Sent": "Sent",
        "\\Drafts": "Drafts",
        "\\Trash": "Trash",
        "\\Junk": "Junk",
        "\\Archive": "Archive",
    },
    "courier": {
        "\\Sent": "INBOX.Sent",
        "\\Drafts": "INBOX.Drafts",
        "\\Trash": "INBOX.Trash",
        "\\Junk": "INBOX.Junk",
    },
}
WATCHED = (
    "MOVE",
    "UIDPLUS",
    "SPECIAL-USE",
    "CONDSTORE",
    "QRESYNC",
    "ESEARCH",
    "SORT",
    "THREAD",
    "LIST-STATUS",
)
CYRUS_CAPS = set(WATCHED)  # Cyrus has all of them
WATCHED_CAPS = {"cyrus-dot": CYRUS_CAPS, "cyrus-slash": CYRUS_CAPS, "courier": {"UIDPLUS", "SORT", "THREAD"}}
CYRUS_THREADS = {"ORDEREDSUBJECT", "REFERENCES", "REFS"}
THREADS = {
    "cyrus-dot": CYRUS_THREADS,
    "cyrus-slash": CYRUS_THREADS,
    "courier": {"ORDEREDSUBJECT", "REFERENCES"},
}

# The tagged response to each command naming a folder that does not exist. No server sends [NONEXISTENT].
CYRUS_MISSING = {
    "SELECT": Response("NO", "Mailbox does not exist"),
    "EXAMINE": Response("NO", "Mailbox does not exist"),
    "STATUS": Response("NO", "Mailbox does not exist"),
    "DELETE": Response("NO", "Mailbox does not exist"),
    "RENAME": Response("NO", "Mailbox does not exist"),
    "SUBSCRIBE": Response("NO", "Subscribe: Mailbox does not exist"),
    "APPEND": Response("NO", "[TRYCREATE] Mailbox does not exist"),
}
COURIER_NO = "Mailbox does not exist, or must be subscribed to."
MISSING = {
    "cyrus-dot": CYRUS_MISSING,
    "cyrus-slash": CYRUS_MISSING,
    "courier": {
        "SELECT": Response("NO", COURIER_NO),
        "EXAMINE": Response("NO", COURIER_NO),
        "STATUS": Response("NO", COURIER_NO),
        "DELETE": Response("NO", COURIER_NO),
        "RENAME": Response("OK", "Folder renamed."),  # after a 2 s pause, and nothing was renamed
        "SUBSCRIBE": Response("OK", "Folder subscribed."),
        "APPEND": Response("NO", "[TRYCREATE] Must create mailbox before append"),
    },
}
# CREATE of a top-level folder beside INBOX, i.e. outside an "INBOX." personal namespace.
CREATE_OUTSIDE = {
    "cyrus-dot": Response("NO", "Permission denied"),
    "courier": Response("NO", "Invalid mailbox name."),
}
# Courier's answer to a command or argument it does not support (MOVE, CREATE ... (USE ...)): NO, not BAD.
COURIER_UNKNOWN = Response("NO", "Error in IMAP command received by server.")
COURIER_READ_ONLY = Response("NO", "Current box is selected READ-ONLY.")


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest) -> PrivateServer:
    """Each of the three session servers in turn."""
    found: PrivateServer = request.getfixturevalue(FIXTURES[request.param])
    return found


def message(subject: str) -> bytes:
    return (
        f"From: Harness <harness@example.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello from the harness: {subject}.\r\n"
    ).encode()


def unique(server: PrivateServer, stem: str) -> str:
    return server.info.folder(f"{stem}-{secrets.token_hex(3)}")


def test_starts_greets_and_logs_in(server: PrivateServer) -> None:
    info = server.info
    assert server.running and info.kind == server.kind
    assert (info.host, info.port) == ("127.0.0.1", server.port)
    assert server.greeting.startswith(b"* OK")
    banner = b"Cyrus IMAP 3.6.1" if server.kind.startswith("cyrus") else b"Courier-IMAP ready"
    assert banner in server.greeting
    assert 0 < server.start_seconds < 10
    print(f"{server.kind}: started in {server.start_seconds:.2f} s")
    client = info.connect()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] >= 0
    finally:
        client.logout()


def test_namespace(server: PrivateServer) -> None:
    info = server.info
    personal, other, shared = NAMESPACES[server.kind]
    assert personal == ((info.prefix, info.delimiter),)
    client = info.connect()
    try:
        found = client.namespace()
    finally:
        client.logout()
    assert (found.personal, found.other, found.shared) == (personal, other, shared)


def test_lists_created_folders(server: PrivateServer) -> None:
    info = server.info
    assert dict(info.folders) == FOLDERS[server.kind]
    client = info.connect()
    try:
        listed = {name: (flags, delim) for flags, delim, name in client.list_folders()}
        client._imap.untagged_responses.pop("LIST", None)
        special = command(client, "LIST", "(SPECIAL-USE)", '""', '"*"')
        special_lines = client._imap.untagged_responses.pop("LIST", [])
        subscribed = {name for _, _, name in client.list_sub_folders()}
    finally:
        client.logout()
    assert set(info.folders.values()) | {"INBOX"} <= set(listed)
    assert {delim for _, delim in listed.values()} == {info.delimiter.encode()}
    assert set(info.folders.values()) <= subscribed
    assert special.typ == "OK"
    for use, name in info.folders.items():
        if info.special_use:
            assert use.encode() in listed[name][0], (name, listed[name])
        else:
            assert not {b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive"} & set(listed[name][0])
    if info.special_use:  # only the special-use folders, each with its attribute
        assert len(special_lines) == len(info.folders)
    else:  # Courier accepts the selection option, ignores it and marks nothing
        assert len(special_lines) == len(listed)
        assert not any(b"\\Sent" in line or b"\\Drafts" in line for line in special_lines)


def test_append_and_fetch(server: PrivateServer) -> None:
    info = server.info
    raw = message("append and fetch")
    when = datetime(2026, 11, 30, 9, 15, 7, tzinfo=UTC)
    drafts = info.folders["\\Drafts"]
    uid = info.append(drafts, raw, flags=["\\Draft", "\\Seen", "$Harness"], date=when)
    assert isinstance(uid, int) and uid > 0  # both servers send APPENDUID (UIDPLUS)
    seeded = [
        u
        for u in info.seed("INBOX", [message("seed one"), message("seed two"), message("seed three")])
        if u is not None
    ]
    assert len(seeded) == 3 and seeded == sorted(set(seeded))
    client = info.connect()
    client.normalise_times = False
    try:
        client.select_folder(drafts, readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE"])[uid]
        client.select_folder("INBOX", readonly=True)
        found = client.search(["SUBJECT", "seed two"])
    finally:
        client.logout()
    assert data[b"BODY[]"] == raw
    assert data[b"RFC822.SIZE"] == len(raw)
    assert {b"\\Draft", b"\\Seen", b"$Harness"} <= set(data[b"FLAGS"])
    assert data[b"INTERNALDATE"] == when
    assert seeded[1] in found


def test_capabilities(server: PrivateServer) -> None:
    caps = server.info.capabilities
    threads = {c.split("=", 1)[1] for c in caps if c.startswith("THREAD=")}
    present = {c for c in WATCHED if c in caps or (c == "THREAD" and threads)}
    print(f"{server.kind} capabilities: {' '.join(caps)}")
    assert len(caps) == len(set(caps)) and "IMAP4REV1" in caps
    assert present == WATCHED_CAPS[server.kind]
    assert threads == THREADS[server.kind]


def test_missing_folder_responses(server: PrivateServer) -> None:
    info = server.info
    missing, target = unique(server, "Missing"), unique(server, "Renamed")
    client = info.connect()
    try:
        got = {
            "SELECT": command(client, "SELECT", quote(missing)),
            "EXAMINE": command(client, "EXAMINE", quote(missing)),
            "STATUS": command(client, "STATUS", quote(missing), "(MESSAGES)"),
            "DELETE": command(client, "DELETE", quote(missing)),
            "RENAME": command(client, "RENAME", quote(missing), quote(target)),
            "SUBSCRIBE": command(client, "SUBSCRIBE", quote(missing)),
            "APPEND": append_response(client, missing, message("nowhere")),
        }
        if got["SUBSCRIBE"].typ == "OK":
            client.unsubscribe_folder(missing)
        names = {name for _, _, name in client.list_folders()}
    finally:
        client.logout()
    print(f"{server.kind} missing folder: {got}")
    assert got == MISSING[server.kind]
    assert "NONEXISTENT" not in {r.code for r in got.values()}
    assert got["APPEND"].code == "TRYCREATE"
    assert missing not in names and target not in names  # Courier's "Folder renamed." renamed nothing


@pytest.mark.parametrize("kind", ["cyrus-dot", "courier"])
def test_create_outside_namespace_is_refused(kind: str, request: pytest.FixtureRequest) -> None:
    server: PrivateServer = request.getfixturevalue(FIXTURES[kind])
    outside = f"Outside-{secrets.token_hex(3)}"
    client = server.info.connect()
    try:
        got = command(client, "CREATE", quote(outside))
        names = {name for _, _, name in client.list_folders()}
    finally:
        client.logout()
    assert got == CREATE_OUTSIDE[kind]
    assert outside not in names


def test_cyrus_slash_creates_beside_inbox(cyrus_slash: Cyrus) -> None:
    name = f"Beside-{secrets.token_hex(3)}"
    client = cyrus_slash.info.connect()
    try:
        created = command(client, "CREATE", quote(name))
        listed = {n: delim for _, delim, n in client.list_folders()}
        client.delete_folder(name)
    finally:
        client.logout()
    assert created.typ == "OK" and created.code == "MAILBOXID"
    assert listed[name] == b"/"


def test_append_into_examined_folder(server: PrivateServer) -> None:
    """Courier refuses an APPEND into the folder its own session has EXAMINEd; Cyrus accepts it."""
    info = server.info
    sent = info.folders["\\Sent"]
    client, other = info.connect(), info.connect()
    try:
        client.select_folder(sent, readonly=True)
        same = append_response(client, sent, message("into examined"))
        elsewhere = append_response(client, "INBOX", message("other folder while examined"))
        from_other = append_response(other, sent, message("from another session"))
        client.select_folder(sent)
        read_write = append_response(client, sent, message("after select"))
    finally:
        client.logout()
        other.logout()
    print(f"{server.kind} APPEND into EXAMINEd folder: {same}")
    if server.kind == "courier":
        assert same == COURIER_READ_ONLY and same.code is None
    else:
        assert same.typ == "OK" and same.code == "APPENDUID"
    assert elsewhere.typ == from_other.typ == read_write.typ == "OK"


def test_courier_lacks_special_use_and_move(courier: Courier) -> None:
    info = courier.info
    assert "SPECIAL-USE" not in info.capabilities and "CREATE-SPECIAL-USE" not in info.capabilities
    assert not info.special_use
    folder = unique(courier, "Moved")
    uid = info.append("INBOX", message("move by copy"))
    client = info.connect()
    try:
        with_use = command(client, "CREATE", quote(unique(courier, "Archive")), "(USE (\\Archive))")
        client.create_folder(folder)
        client.select_folder("INBOX")
        move = command(client, "UID", "MOVE", str(uid), quote(folder))
        copied = command(client, "UID", "COPY", str(uid), quote(folder))
        client.add_flags([uid], [b"\\Deleted"])
        client.uid_expunge([uid])
        still_there = client.search(["UID", str(uid)])
        client.select_folder(folder, readonly=True)
        moved = client.search(["SUBJECT", "move by copy"])
    finally:
        client.logout()
    assert with_use == COURIER_UNKNOWN
    assert move == COURIER_UNKNOWN
    assert copied.typ == "OK" and copied.code == "COPYUID"
    assert still_there == [] and len(moved) == 1


def test_env_points_mail_mcp_at_server(server: PrivateServer) -> None:
    info = server.info
    env = info.env("probe")
    assert env == {
        "MAIL_IMAP_PROBE_HOST": "127.0.0.1",
        "MAIL_IMAP_PROBE_PORT": str(server.port),
        "MAIL_IMAP_PROBE_USER": info.user,
        "MAIL_IMAP_PROBE_PASS": info.password,
        "MAIL_IMAP_PROBE_SECURITY": "plain",
    }
    account = load_settings(env=env).accounts["probe"]
    assert (account.host, account.effective_port, account.user, account.security) == (
        "127.0.0.1",
        server.port,
        info.user,
        "plain",
    )
    assert account.password is not None and account.password.get_secret_value() == info.password


def test_cyrus_session_logs(cyrus_dot: Cyrus) -> None:
    subject = f"logged {secrets.token_hex(4)}"
    cyrus_dot.info.append("INBOX", message(subject))
    logs = cyrus_dot.session_logs()
    assert logs and all(p.parent == cyrus_dot.session_log_dir for p in logs)
    assert any(subject.encode() in p.read_bytes() for p in logs)
    assert "APPEND" in cyrus_dot.log_tail(400)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.mark.parametrize("kind", KINDS)
def test_stop_leaves_no_process_behind(kind: str) -> None:
    server = FACTORIES[kind]()
    server.start()
    try:
        info = server.info
        client = info.connect()  # a busy session must not outlive stop()
        client.select_folder(info.folders["\\Sent"])
        info.append("INBOX", message("before stop"))  # Courier: libgamin starts gam_server now
        pids = server.process_ids()
        names = {_comm(p) for p in pids}
        namespace = server.namespace  # Courier always, Cyrus when run as root
        root, port, marker = server.root, server.port, server.marker
    finally:
        server.stop()
    expected = (
        {"unshare", "sh", "authdaemond", "couriertcpd", "imapd", "gam_server"}
        if kind == "courier"
        else {"master", "imapd"}
    )
    assert expected <= names, names
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert marked(marker) == [] and server.leftovers == [] and server.process_ids() == []
    if namespace is not None:  # the kernel ends the rest of a PID namespace after its init, not instantly
        deadline = time.monotonic() + 3.0
        while namespace_members(namespace) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert namespace_members(namespace) == []
    assert root is not None and not root.exists()
    assert read_greeting(port) is None
    assert not server.running
    server.stop()  # idempotent
    client.shutdown()


def test_missing_install_fails_with_hint(tmp_path: Path) -> None:
    for server in (Cyrus("dot", servers_root=tmp_path), Courier(servers_root=tmp_path)):
        with pytest.raises(ServerError, match="run `scripts/install-test-servers`"):
            server.start()
        assert server.root is None and server.process_ids() == [] and not server.running
