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


def test_itinerary_from_to_date_in_prose_is_kept() -> None:
    text = (
        "Hi Ann,\n\nhere is the flight I found:\nFrom: Paris CDG\nTo: New York JFK\nDate: 12 Dec\n\n"
        "Please book it by Friday, the fare expires then.\nThanks, Bob"
    )
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0 and trimmed.quoted_lines == 0


def test_schedule_from_to_in_prose_is_kept() -> None:
    text = (
        "Team,\n\nThe office is closed during the move.\nFrom: Monday 9am\nTo: Wednesday 5pm\n\n"
        "After that, we are on floor 3. Bring your badge."
    )
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0


def test_spanish_de_a_times_are_kept() -> None:
    text = "Hola,\nDe: 10:00\nA: 12:00 tenemos reunion.\nNo faltes por favor."
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0


def test_underscore_line_without_header_block_is_kept() -> None:
    text = "Minutes of today's meeting\n\n__________\nDecisions:\n1. Ship on Friday\n2. Freeze the API"
    trimmed = trim_quotes(text)
    assert trimmed.text == text and trimmed.trimmed_chars == 0


def test_outlook_forward_is_kept_when_forwarded() -> None:
    text = (
        "FYI, see below.\n\nFrom: Vendor <v@vendor.test>\nSent: Monday\nTo: Bob\nSubject: Price list\n\n"
        "The new prices start in January: widgets 4 EUR."
    )
    trimmed = trim_quotes(text, forwarded=True)
    assert trimmed.text == text and trimmed.trimmed_chars == 0 and trimmed.quoted_lines == 0
    assert trim_quotes(text).text == "FYI, see below."  # the same block in a reply is quoted history


def test_one_line_name_attribution_keeps_the_line_before() -> None:
    text = "Thanks, see you then.\nOn my side everything is ready.\nCarol Smith wrote:\n> Are you ready?\n> Tell me."
    trimmed = trim_quotes(text)
    assert trimmed.text == "Thanks, see you then.\nOn my side everything is ready."
    assert trimmed.trimmed_chars == len("Carol Smith wrote:\n> Are you ready?\n> Tell me.")
    assert trimmed.quoted_lines == 3


def test_full_header_block_without_blank_line_is_a_tail() -> None:
    text = (
        "  Approved.\n  From: Carol Sender <carol@example.test>\n  Sent: Monday, June 1, 2026 10:00\n"
        "  To: Alice\n  Subject: Budget\n  Please approve."
    )
    trimmed = trim_quotes(text)
    assert trimmed.text == "  Approved." and trimmed.quoted_lines == 5
