"""Handoff rules: exactly three non-empty, size-capped string fields, each rule naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlroom._errors import HandoffError
from controlroom.adapters.handoff import parse_handoff_text, validate_handoff
from controlroom.models import Handoff


def _fixtures() -> Path:
    here = Path(__file__).parent / "fixtures" / "claude-code"
    return here if here.is_dir() else Path("/work/shared/fixtures/claude-code")


GOOD = {"changed": "added retry", "next_needs": "wire it up", "risks": "none known"}


def _rejects(data: object, max_chars: int = 2000) -> HandoffError:
    with pytest.raises(HandoffError) as info:
        validate_handoff(data, max_chars)
    return info.value


def test_valid_handoff_comes_back_unchanged() -> None:
    handoff = validate_handoff(dict(GOOD))
    assert handoff == Handoff(changed="added retry", next_needs="wire it up", risks="none known")


@pytest.mark.parametrize("field", ["changed", "next_needs", "risks"])
def test_missing_field_is_named(field: str) -> None:
    data = {k: v for k, v in GOOD.items() if k != field}
    error = _rejects(data)
    assert error.field == field
    assert str(error) == f"{field}: missing"


def test_extra_field_is_rejected_by_name() -> None:
    error = _rejects({**GOOD, "notes": "hi"})
    assert error.field == "notes"
    assert "not a handoff field" in str(error)


def test_misspelt_field_is_named_as_the_extra_not_the_missing() -> None:
    data = {"changed": "a", "next_need": "b", "risks": "c"}
    assert _rejects(data).field == "next_need"


@pytest.mark.parametrize("field", ["changed", "next_needs", "risks"])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_empty_or_whitespace_field_is_named(field: str, blank: str) -> None:
    error = _rejects({**GOOD, field: blank})
    assert (error.field, str(error)) == (field, f"{field}: empty")


@pytest.mark.parametrize(
    ("value", "kind"), [(3, "number"), (None, "null"), (["a"], "array"), ({"a": 1}, "object")]
)
def test_non_string_field_is_named_with_its_type(value: object, kind: str) -> None:
    error = _rejects({**GOOD, "risks": value})
    assert error.field == "risks"
    assert str(error) == f"risks: must be a string, got {kind}"


def test_too_long_is_rejected_with_both_numbers_never_truncated() -> None:
    error = _rejects({**GOOD, "next_needs": "x" * 2001})
    assert error.field == "next_needs"
    assert str(error) == "next_needs: 2001 characters, limit 2000"
    # exactly at the limit passes, whole
    assert validate_handoff({**GOOD, "next_needs": "x" * 2000}).next_needs == "x" * 2000


def test_limit_counts_characters_not_bytes() -> None:
    assert validate_handoff({**GOOD, "changed": "é" * 10}, max_chars=10).changed == "é" * 10
    assert str(_rejects({**GOOD, "changed": "é" * 11}, 10)) == "changed: 11 characters, limit 10"


@pytest.mark.parametrize("data", [["a", "b", "c"], "changed", None, 42])
def test_not_an_object(data: object) -> None:
    error = _rejects(data)
    assert error.field == ""
    assert "must be a JSON object" in str(error)


# ----------------------------------------------------------------------- parse_handoff_text


def test_fixture_result_texts_parse_and_validate() -> None:
    for name in ("tool-allowed.stream.jsonl", "tool-denied-by-hook.stream.jsonl"):
        lines = (_fixtures() / name).read_text().splitlines()
        result = json.loads(lines[-1])
        assert result["type"] == "result"
        raw = parse_handoff_text(result["result"])
        assert raw == {"changed": "nothing yet", "next_needs": "the plan", "risks": "none known"}
        assert validate_handoff(raw).risks == "none known"


def test_whole_text_as_object() -> None:
    assert parse_handoff_text("  " + json.dumps(GOOD) + "\n") == GOOD


def test_no_handoff_is_none() -> None:
    assert parse_handoff_text("All done, nothing to report.") is None
    assert parse_handoff_text("") is None
    assert parse_handoff_text('```json\n{"status": "ok"}\n```') is None
    assert parse_handoff_text("```python\nprint('hi')\n```") is None
    assert parse_handoff_text("[1, 2, 3]") is None


def test_last_handoff_block_wins_and_other_blocks_are_ignored() -> None:
    first = {"changed": "draft", "next_needs": "n", "risks": "r"}
    text = (
        f"Plan:\n```json\n{json.dumps(first)}\n```\n"
        'Config:\n```json\n{"retries": 3}\n```\n'
        f"Final:\n```json\n{json.dumps(GOOD, indent=2)}\n```\n"
        '```json\n["not", "an", "object"]\n```\n'
    )
    assert parse_handoff_text(text) == GOOD


def test_untagged_fence_counts() -> None:
    assert parse_handoff_text(f"```\n{json.dumps(GOOD)}\n```") == GOOD


def test_partial_handoff_is_returned_so_validation_names_the_gap() -> None:
    raw = parse_handoff_text('```json\n{"changed": "x", "risks": "y"}\n```')
    assert raw == {"changed": "x", "risks": "y"}
    assert _rejects(raw).field == "next_needs"


def test_broken_json_handoff_block_is_an_error_not_silence() -> None:
    with pytest.raises(HandoffError, match="not valid JSON"):
        parse_handoff_text('```json\n{"changed": "x", "next_needs": "y", "risks": "z",}\n```')


def test_broken_block_before_a_good_one_is_forgiven() -> None:
    text = '```json\n{"changed": oops}\n```\nfixed:\n```json\n' + json.dumps(GOOD) + "\n```"
    assert parse_handoff_text(text) == GOOD
