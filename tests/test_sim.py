"""The simulated Messages API, spoken to by the real anthropic SDK and raw HTTP.

The SDK parses both the JSON answer and the server-sent events, so these
tests hold the simulator to the wire format a real client accepts; the
ledger must equal, token for token, what the client received.
"""

from __future__ import annotations

import http.client
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from controlroom._errors import ConfigError
from controlroom.sim import Script, SimServer, Turn, count_input_tokens, load_script

pytestmark = pytest.mark.timeout(90)  # only stops a hung test (a loaded machine is slow)

KEY = "sk-ant-sim-test"
TWO_TURNS = Script(
    [
        Turn.call("Bash", {"command": "echo hi"}, output_tokens=33, text="Let me check."),
        Turn.say("All done, " + "x" * 200, output_tokens=35),
    ]
)


def client(sim: SimServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)


def test_a_json_answer_follows_the_script_and_counts_exactly() -> None:
    with SimServer(TWO_TURNS) as sim:
        messages: list[dict[str, object]] = [{"role": "user", "content": "hi"}]
        first = client(sim).messages.create(
            model="claude-sim-1",
            max_tokens=100,
            messages=messages,  # type: ignore[arg-type]
        )
        assert first.stop_reason == "tool_use"
        assert [b.type for b in first.content] == ["text", "tool_use"]
        tool = first.content[1]
        assert tool.type == "tool_use" and tool.name == "Bash"
        assert tool.input == {"command": "echo hi"} and tool.id.startswith("toolu_")
        assert first.usage.output_tokens == 33
        (served,) = sim.served
        assert first.usage.input_tokens == served.input_tokens
        assert served.stream is False and served.api_key == KEY and served.turn == 0

        messages += [
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "hi"}],
            },
        ]
        second = client(sim).messages.create(
            model="claude-sim-1",
            max_tokens=100,
            messages=messages,  # type: ignore[arg-type]
        )
        assert second.stop_reason == "end_turn"
        assert second.content[0].type == "text" and second.content[0].text.startswith("All done")
        assert sim.requests == 2 and [s.turn for s in sim.served] == [0, 1]
        assert sim.output_tokens == 33 + 35
        assert sim.input_tokens == first.usage.input_tokens + second.usage.input_tokens


def test_a_stream_parses_in_the_sdk_and_matches_the_ledger() -> None:
    with SimServer(TWO_TURNS) as sim:
        with client(sim).messages.stream(
            model="claude-sim-2",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert "message_delta" in kinds and "content_block_stop" in kinds
        assert final.model == "claude-sim-2"
        assert [b.type for b in final.content] == ["text", "tool_use"]
        assert final.content[1].input == {"command": "echo hi"}  # type: ignore[union-attr]
        (served,) = sim.served
        assert served.stream is True
        assert (final.usage.input_tokens, final.usage.output_tokens) == (
            served.input_tokens,
            served.output_tokens,
        )
        assert final.id == served.answer["id"]


def test_the_script_follows_each_conversation_and_routes_pick_a_script() -> None:
    other = Script([Turn.say("I am the reviewer")])
    with SimServer(TWO_TURNS, routes={"review": other}) as sim:
        c = client(sim)
        for prompt in ("please review this", "implement it"):
            answer = c.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": prompt}]
            )
            assert answer.content[0].type == "text"
        assert [s.answer["content"][0]["text"] for s in sim.served] == [
            "I am the reviewer",
            "Let me check.",
        ]
        history = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "user", "content": "d"},
        ]
        past_the_end = c.messages.create(model="m", max_tokens=100, messages=history)  # type: ignore[arg-type]
        assert "no more turns" in past_the_end.content[0].text  # type: ignore[union-attr]


def test_head_count_tokens_auth_and_errors() -> None:
    with SimServer(TWO_TURNS, api_key=KEY) as sim:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        conn.request("HEAD", "/")
        head = conn.getresponse()
        head.read()
        assert head.status == 200 and sim.heads == 1

        def post(path: str, body: bytes, key: str | None = KEY) -> tuple[int, dict[str, object]]:
            headers = {"content-type": "application/json"}
            if key:
                headers["x-api-key"] = key
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        request = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        body = json.dumps(request).encode()
        prompt = '{"role":"user"}"x"'  # the prompt's pieces, as the simulator counts them
        assert count_input_tokens(request) == math.ceil(len(prompt) / 4)
        assert post("/v1/messages/count_tokens", body) == (
            200,
            {"input_tokens": math.ceil(len(prompt) / 4)},
        )
        status, error = post("/v1/messages?beta=true", body, key="wrong")
        assert status == 401 and error["error"]["type"] == "authentication_error"  # type: ignore[index]
        status, error = post("/v1/messages", b"{not json")
        assert status == 400 and error["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        status, _ = post("/v1/nothing", body)
        assert status == 404
        status, message = post("/v1/messages?beta=true", body)  # same connection: keep-alive
        assert status == 200 and message["type"] == "message"
        assert message["usage"]["input_tokens"] == math.ceil(len(prompt) / 4)  # type: ignore[index]
        assert sim.requests == 1 and sim.errors == 3  # refused requests are not served
        conn.close()


def test_scripts_load_from_json_and_bad_ones_name_the_turn(tmp_path: Path) -> None:
    good = tmp_path / "script.json"
    good.write_text(
        json.dumps([{"tool": "Bash", "input": {"command": "ls"}}, {"text": "ok", "seconds": 1.5}])
    )
    script = load_script(good)
    assert len(script) == 2 and script.turns[0].tool == "Bash"
    assert (script.turns[0].seconds, script.turns[1].seconds) == (0.0, 1.5)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"text": "ok"}, {"tool": 3}, {"speak": "x"}, {"text": "", "seconds": -1}])
    )
    with pytest.raises(ConfigError) as caught:
        load_script(bad)
    assert [p.key for p in caught.value.problems] == ["[1]", "[2]", "[3]"]
    assert str(bad) in str(caught.value)


def test_python_m_controlroom_sim_prints_its_url_and_serves(leftovers: list[int]) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "controlroom.sim"], stdout=subprocess.PIPE, text=True
    ) as proc:
        leftovers.append(proc.pid)  # ended by pid whatever happens below
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            c = anthropic.Anthropic(base_url=url, api_key="any", max_retries=0, timeout=10)
            answer = c.messages.create(
                model="claude-sim-1", max_tokens=200, messages=[{"role": "user", "content": "go"}]
            )
            assert answer.stop_reason == "tool_use"
            assert proc.stdout.readline().startswith("/v1/messages turn 0 tool_use")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0  # Ctrl-C: a clean exit (30 s only stops a hung test)
        finally:
            if proc.poll() is None:
                proc.kill()


def cached_request(question: str, ttl: str = "5m") -> dict[str, object]:
    """A system prompt marked for caching (``ttl``), then one question."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "system": [
            {
                "type": "text",
                "text": "You review code. " * 40,
                "cache_control": {"type": "ephemeral", "ttl": ttl},
            }
        ],
        "messages": [{"role": "user", "content": question}],
    }


def test_prompt_caching_writes_then_reads_each_ttl_at_its_own_count() -> None:
    with SimServer(Script([Turn.say("ok", output_tokens=3)])) as sim:
        c = client(sim)
        first = c.messages.create(**cached_request("first?"))  # type: ignore[arg-type]
        again = c.messages.create(**cached_request("second question?"))  # type: ignore[arg-type]
        hour = c.messages.create(**cached_request("third?", ttl="1h"))  # type: ignore[arg-type]
        prefix = math.ceil(
            len(
                json.dumps(
                    {"type": "text", "text": "You review code. " * 40}, separators=(",", ":")
                )
            )
            / 4
        )
        assert (
            first.usage.cache_creation_input_tokens == prefix
            and first.usage.cache_read_input_tokens == 0
        )
        assert first.usage.cache_creation is not None
        assert first.usage.cache_creation.ephemeral_5m_input_tokens == prefix
        assert (
            again.usage.cache_read_input_tokens == prefix
            and again.usage.cache_creation_input_tokens == 0
        )
        # the same text under another TTL is the same prefix: read, not written again
        assert hour.usage.cache_read_input_tokens == prefix
        for answer, request in zip((first, again, hour), sim.served, strict=True):
            assert answer.usage.input_tokens + prefix == count_input_tokens(request.request)
        ledger = sim.ledger()
        assert ledger.cache_read_input_tokens == 2 * prefix
        assert (
            ledger.cache_creation_input_tokens == prefix
            and ledger.cache_creation_1h_input_tokens == 0
        )
        assert ledger.output_tokens == 9 and ledger.requests == 3


def test_one_hour_writes_are_counted_apart() -> None:
    with SimServer(Script([Turn.say("ok", output_tokens=3)])) as sim:
        answer = client(sim).messages.create(**cached_request("q", ttl="1h"))  # type: ignore[arg-type]
        assert answer.usage.cache_creation is not None
        one_hour = answer.usage.cache_creation.ephemeral_1h_input_tokens
        assert one_hour == answer.usage.cache_creation_input_tokens > 0
        assert sim.ledger().cache_creation_1h_input_tokens == one_hour


def test_an_answer_stops_at_max_tokens_and_server_input_comes_at_the_end() -> None:
    long = Turn(text="word " * 400, server_input_tokens=120)
    with SimServer(Script([long])) as sim:
        with client(sim).messages.stream(
            model="m", max_tokens=25, messages=[{"role": "user", "content": "go"}]
        ) as stream:
            events = list(stream)
            final = stream.get_final_message()
        start = next(e for e in events if e.type == "message_start")
        delta = next(e for e in events if e.type == "message_delta")
        (served,) = sim.served
        assert (
            final.stop_reason == "max_tokens"
            and served.output_tokens == 25 == final.usage.output_tokens
        )
        assert final.content[0].text == ("word " * 400)[:100]  # type: ignore[union-attr]
        assert start.message.usage.input_tokens == served.input_tokens - 120  # type: ignore[attr-defined]
        assert delta.usage.input_tokens == served.input_tokens  # type: ignore[attr-defined]


def test_a_failing_turn_answers_an_api_error_and_serves_nothing() -> None:
    with SimServer(Script([Turn.error(529, "overloaded_error", "Overloaded")])) as sim:
        with pytest.raises(anthropic.APIStatusError) as caught:
            client(sim).messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "go"}]
            )
        assert caught.value.status_code == 529
        assert sim.requests == 0 and sim.errors == 1


def test_a_turn_answers_otherwise_after_a_tool_result_it_names() -> None:
    """A scripted model that heeds the operator: a "rejected" gate result changes its turn."""
    heeded = Turn.say("cancelled, as the operator said", output_tokens=7)
    script = Script(
        [
            Turn.call("request_gate", {"title": "deploy?"}),
            Turn(
                text="deploying",
                tool="Bash",
                input={"command": "deploy"},
                instead=(("rejected", heeded),),
            ),
        ]
    )
    with SimServer(script, api_key=KEY) as sim:
        sdk = client(sim)
        first = sdk.messages.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "go"}]
        )
        gate = first.content[-1]
        assert gate.type == "tool_use"
        answers = {}
        for verdict in ("approved: fine", "rejected: not today"):
            result = {"type": "tool_result", "tool_use_id": gate.id, "content": verdict}
            answer = sdk.messages.create(
                model="m",
                max_tokens=50,
                messages=[
                    {"role": "user", "content": "go"},
                    {"role": "assistant", "content": [b.model_dump() for b in first.content]},  # type: ignore[misc]
                    {"role": "user", "content": [result]},  # type: ignore[list-item]
                ],
            )
            answers[verdict] = [b.type for b in answer.content], answer.content[0]
        kinds, text = answers["approved: fine"]
        assert kinds == ["text", "tool_use"] and text.type == "text" and text.text == "deploying"
        kinds, text = answers["rejected: not today"]
        assert kinds == ["text"] and text.type == "text" and text.text == heeded.text
        assert [s.turn for s in sim.served] == [0, 1, 1]
