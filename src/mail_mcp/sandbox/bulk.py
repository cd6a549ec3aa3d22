"""A fast, deterministic generator of varied bulk mail, for `Sandbox.seed_bulk` and the benchmarks."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

__all__ = ["generate_bulk"]

_WORDS = (
    "the project status update meeting budget review release deadline customer feedback design proposal "
    "server migration invoice schedule quarterly report draft team offsite travel agenda contract support "
    "ticket roadmap hiring security backup database search index performance latency cache deploy rollout "
    "metrics dashboard alert incident"
).split()
_SUBJECT_FORMS = (
    "{a} {b}",
    "Re: {a} {b}",
    "Fwd: {a} {b} {c}",
    "{A}: {b} {c}",
    "[{list}] {a} {b}",
    "Weekly {a} #{n}",
    "Grüße: {a} {b}",
    "{a}の{b}",
    "Question about {a}",
    "{A} {b} ({n})",
)
_NAMES = (
    "Anna Schmidt",
    "Ben Carter",
    "Chloé Martin",
    "David Kim",
    "Eva Novak",
    "Farid Haddad",
    "Grace Liu",
    "Hugo Weiß",
    "Ines García",
    "佐藤 花子",
    "Jon Berg",
    "Kate O'Neil",
)


def _header_text(text: str) -> str:
    """RFC 2047-encode ``text`` when it is not plain ASCII (quick path, no email package)."""
    if text.isascii():
        return text
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def generate_bulk(
    count: int, *, size_hint: int = 2048, seed: int = 0, days: int = 365, now: datetime | None = None
) -> Iterator[tuple[bytes, datetime, tuple[str, ...]]]:
    """Yield ``count`` varied raw messages ``(raw, internal_date, flags)``, quickly and deterministically."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    for i in range(count):
        # Oldest first with jitter, so UID order roughly follows date order as in a real mailbox.
        age = (count - i) / count * days * 86400 + rng.uniform(0, 3600)
        when = now - timedelta(seconds=int(age))
        a, b, c = rng.sample(_WORDS, 3)
        subject = rng.choice(_SUBJECT_FORMS).format(
            a=a,
            b=b,
            c=c,
            A=a.capitalize(),
            n=rng.randrange(1, 999),
            list=rng.choice(("dev", "ops", "announce")),
        )
        name = rng.choice(_NAMES)
        local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
        target = max(64, int(size_hint * rng.uniform(0.4, 1.6)))
        words: list[str] = []
        length = 0
        while length < target:
            line = " ".join(rng.choices(_WORDS, k=rng.randrange(6, 14))).capitalize() + "."
            words.append(line)
            length += len(line) + 2
        body = "\r\n".join(words)
        headers = (
            f"From: {_header_text(name)} <{local}{i % 50}@example.test>\r\n"
            f"To: Alice Example <alice@example.test>\r\n"
            f"Subject: {_header_text(subject)}\r\n"
            f"Date: {format_datetime(when)}\r\n"
            f"Message-ID: <bulk-{seed}-{i}@example.test>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        if rng.random() < 0.1:
            boundary = f"=_bulk_{seed}_{i}"
            csv = "".join(f"{n},{rng.choice(_WORDS)},{rng.randrange(1000)}\r\n" for n in range(20))
            raw = (
                headers + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
                f"--{boundary}\r\nContent-Type: text/csv; charset=utf-8\r\n"
                f'Content-Disposition: attachment; filename="data-{i}.csv"\r\n\r\n{csv}'
                f"--{boundary}--\r\n"
            )
        else:
            raw = headers + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        roll = rng.random()
        flags: tuple[str, ...] = ("\\Seen",) if roll < 0.7 else ()
        if roll > 0.95:
            flags += ("\\Flagged",)
        yield raw.encode("utf-8"), when, flags
