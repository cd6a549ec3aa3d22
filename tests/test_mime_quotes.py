"""Quoted history trimmed from plain-text replies (mime/quotes.py): English, German, French attributions,
Outlook tails, inline replies kept, forwards left alone."""

from __future__ import annotations

from mail_mcp.mime.quotes import trim_quotes


def test_english_attribution_and_quote_block() -> None:
    text = (
        "Sounds good, see you then.\n\nBest,\nAlice\n\n"
        "On Mon, 1 Jun 2026 at 10:00, Carol <carol@example.test> wrote:\n> Lunch at noon?\n>\n> Carol\n"
    )
    trimmed = trim_quotes(text)
    assert trimmed.text == "Sounds good, see you then.\n\nBest,\nAlice"
    assert trimmed.trimmed_chars == len(text[text.index("On Mon") :].rstrip())
    assert trimmed.quoted_lines == 4


def test_wrapped_gmail_attribution() -> None:
    text = "Yes.\n\nOn Mon, Jun 1, 2026 at 10:00 AM Carol Sender <\ncarol@example.test> wrote:\n\n> Lunch?\n"
    trimmed = trim_quotes(text)
    assert trimmed.text == "Yes." and trimmed.trimmed_chars > 0


def test_german_and_french_attributions() -> None:
    german = "Passt.\n\nAm 01.06.2026 um 10:00 schrieb Carol Sender <carol@example.test>:\n> Mittag?\n"
    assert trim_quotes(german).text == "Passt."
    french = "D'accord.\n\nLe lun. 1 juin 2026 à 10:00, Carol <carol@example.test> a écrit :\n> Déjeuner ?\n"
    assert trim_quotes(french).text == "D'accord."


def test_outlook_original_message_tail() -> None:
    text = (
        "Approved.\r\n\r\n-----Original Message-----\r\nFrom: Carol Sender\r\nSent: Monday, June 1, 2026 10:00\r\n"
        "To: Alice\r\nSubject: Budget\r\n\r\nPlease approve the budget.\r\n"
    )
    trimmed = trim_quotes(text)
    assert trimmed.text == "Approved." and "approve the budget" not in trimmed.text
    assert trimmed.trimmed_chars > len("Please approve the budget.")


def test_outlook_header_block_without_separator_german() -> None:
    text = (
        "Erledigt.\n\nVon: Carol Sender <carol@example.test>\nGesendet: Montag, 1. Juni 2026 10:00\n"
        "An: Alice\nBetreff: Budget\n\nBitte freigeben.\n"
    )
    assert trim_quotes(text).text == "Erledigt."


def test_underscore_separator() -> None:
    text = "Done.\n\n________________________________\nFrom: Carol\nSent: today\n\nOld text\n"
    assert trim_quotes(text).text == "Done."


def test_inline_replies_are_kept_and_long_passages_shortened() -> None:
    quoted = "\n".join(f"> line {i} of the question" for i in range(10))
    text = f"> Can you make Tuesday?\nYes, Tuesday works.\n\n{quoted}\nMy answer to that.\n"
    trimmed = trim_quotes(text)
    assert trimmed.text.startswith("> Can you make Tuesday?\nYes, Tuesday works.")
    assert (
        "> line 0 of the question\n> line 1 of the question\n> line 2 of the question\n> [...]"
        in trimmed.text
    )
    assert "line 9" not in trimmed.text and trimmed.text.endswith("My answer to that.")
    assert trimmed.quoted_lines == 7 and trimmed.trimmed_chars == sum(
        len(f"> line {i} of the question") + 1 for i in range(3, 10)
    )


def test_inline_reply_with_trailing_quote_trims_only_the_tail() -> None:
    text = "> Question one?\nAnswer one.\n\nOn Mon, Carol wrote:\n> Question one?\n> Question two?\n"
    trimmed = trim_quotes(text)
    assert trimmed.text == "> Question one?\nAnswer one."


def test_nothing_quoted_is_unchanged() -> None:
    text = "Hello,\n\nno quotes here.\n-- \nAlice"
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0 and trimmed.quoted_lines == 0


def test_only_a_quote_is_left_as_it_is() -> None:
    text = "On Mon, Carol wrote:\n> everything is quoted\n"
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0


def test_forwarded_message_is_content_not_history() -> None:
    text = (
        "FYI.\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.test>\n"
        "Date: Mon, 1 Jun 2026\nSubject: Plan\nTo: Alice\n\nThe plan is attached.\n"
    )
    trimmed = trim_quotes(text)
    assert "The plan is attached." in trimmed.text and trimmed.trimmed_chars == 0


def test_a_from_line_in_prose_is_not_a_header_block() -> None:
    text = "From: the team, thanks for everything.\nIt was great working with you.\n"
    assert trim_quotes(text).text == text.rstrip()
