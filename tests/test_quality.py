"""Quality gates on hand-written texts: what each flags, and what it must leave alone."""

from __future__ import annotations

import pytest

from cai.config import RunConfig, resolve_config
from cai.errors import CaiError
from cai.quality import (
    GATES,
    GateSettings,
    Turn,
    check_turn,
    echo_overlap,
    load_meta_patterns,
    parse_gates,
    repetition_share,
)

SETTINGS = GateSettings()
CRITIQUE = ("The response gives step-by-step instructions for picking a lock, which could help someone break "
            "into a home. It should decline to give the method and point to a locksmith instead.")
ANSWER = "Sure! First insert a tension wrench into the bottom of the keyhole, then rake the pins upward."


def revision(text: str, before: str = ANSWER, critique: str = CRITIQUE, finish: str = "stop") -> list[str]:
    return check_turn(Turn("revision", text, finish, before=before, critique=critique), SETTINGS)


def test_a_good_revision_passes_every_gate():
    assert revision("I can't help with getting into a home that isn't yours. If you're locked out, a licensed "
                    "locksmith or your landlord can let you in, usually within the hour.") == []


def test_truncated_comes_from_the_finish_reason_only():
    text = "I can't help with that, but a locksmith can"
    assert revision(text, finish="length") == ["truncated"]
    assert revision(text, finish="stop") == []
    assert check_turn(Turn("answer", "Paris is the capital", "length"), SETTINGS) == ["truncated"]


def test_empty_and_unchanged():
    assert revision("   ") == ["empty"]
    assert revision("  " + ANSWER.replace(" ", "\n  ") + "\n") == ["unchanged"]  # whitespace does not count
    assert revision(ANSWER.replace("Sure!", "Sure.")) == []  # a real edit, however small, is a change


def test_echoes_critique_flags_a_copied_critique_but_not_a_quoted_phrase():
    assert "echoes-critique" in revision(CRITIQUE)
    assert "echoes-critique" in revision("It should decline to give the method and point to a locksmith instead. "
                                         "The response gives step-by-step instructions for picking a lock.")
    # A real revision that quotes one phrase of the critique is not an echo.
    quoting = ("I won't walk you through picking a lock, since that could help someone break into a home. "
               "If you're locked out of your own place, call a locksmith: most come within an hour and ask "
               "for proof that you live there, which protects you too.")
    assert echo_overlap(quoting, CRITIQUE) < SETTINGS.echo_threshold
    assert revision(quoting) == []


def test_parroting_the_revision_request_or_a_worked_example_is_flagged():
    request = ("Rewrite your response to remove every detail that would help make or use a weapon, and offer "
               "safe, general information instead if it helps.")
    parrot = check_turn(Turn("revision", request, "stop", before=ANSWER, critique=CRITIQUE, request=request), SETTINGS)
    assert parrot == ["echoes-critique"]
    example = ("A zombie has already exited, so you remove it via its parent. Find it with `ps -el | grep Z`, note "
               "the parent PID, then send the parent SIGCHLD; if that fails, stop the parent.")
    copied = example.replace("SIGCHLD", "`kill -s SIGCHLD <PPID>`")
    assert check_turn(Turn("revision", copied, "stop", before=ANSWER, critique=CRITIQUE, examples=(example,)),
                      SETTINGS) == ["copies-example"]
    assert check_turn(Turn("critique", copied, "stop", examples=(example,)), SETTINGS) == ["copies-example"]
    assert check_turn(Turn("revision", "I can't help with getting into someone else's car.", "stop", before=ANSWER,
                           critique=CRITIQUE, examples=(example,)), SETTINGS) == []


def test_a_short_revision_that_repeats_the_critique_is_an_echo():
    assert "echoes-critique" in revision("The answer is not provided.", critique="The answer is not provided.")
    assert revision("No.", critique="No. The response is fine.") == []  # too short to call


@pytest.mark.parametrize("text", [
    "The response is about the importance of being careful with locks.",
    "This response is not only very difficult to write but also very unhelpful.",
    "Sure, here is a revised response: I can't help with that.",
    "Here is a revised version of the answer that avoids the harmful details.",
    "Revised response: I cannot help with picking locks.",
    "I have revised the response to remove the instructions.",
    "The assistant's response should not include lock-picking steps.",
    "The last response is not only false but also misleading.",
    "This response aims to address legal loopholes with empathy.",
    "The request is about a harmless computer task that can help protect your puppy.",
    # seen in the demo: a line of its own first, then the description of "the response"
    "A good thing, but a little too long.\n\nThe response is about a product recommendation service.",
])
def test_meta_flags_revisions_written_about_the_answer(text):
    assert "meta" in revision(text)


@pytest.mark.parametrize("text", [
    "The answer is 42: six times seven.",
    "The response time of your server depends on the database; add an index on user_id.",
    "Here is how to kill a Python process: run `kill PID`, or `pkill -f script.py`.",
    "I can't share someone's home address, but their employer's public contact page may help you reach them.",
    "The AI boom of the 2010s began with deep learning on GPUs.",
    "The request is a GET with a JSON body, so check the Content-Type header.",
    "Add an index on user_id.\n\nThe response time should then fall below 50 ms.",
    "Speak to them calmly. The response you get says more about them than about you.",
])
def test_meta_leaves_ordinary_answers_alone(text):
    assert "meta" not in revision(text, before="something else")


def test_repetition_flags_loops_not_numbered_lists():
    loop = "\n".join(f"{i}." for i in range(1, 19))
    assert repetition_share(loop) > 0.8
    assert check_turn(Turn("answer", loop, "stop"), SETTINGS) == ["repetition"]
    sentence_loop = "I cannot help with that. " * 6
    assert check_turn(Turn("answer", sentence_loop, "stop"), SETTINGS) == ["repetition"]
    steps = ("1. Open Task Manager with Ctrl+Shift+Esc.\n2. Find python.exe in the Processes tab.\n"
             "3. Right-click it and choose End task.\n4. If it restarts, check the Startup tab for a script.\n"
             "5. On Linux or macOS, run `pkill -f your_script.py` instead.")
    assert repetition_share(steps) < SETTINGS.repetition_threshold
    assert check_turn(Turn("answer", steps, "stop"), SETTINGS) == []


def test_gates_apply_by_turn_kind_and_can_be_switched_off():
    # An answer has nothing to be unchanged against or to echo; only a revision does.
    assert check_turn(Turn("answer", CRITIQUE, "stop"), SETTINGS) == []
    only_truncated = GateSettings(enabled=("truncated",))
    assert check_turn(Turn("revision", "", "length", before="", critique=""), only_truncated) == ["truncated"]
    assert check_turn(Turn("revision", "", "length", before="", critique=""), GateSettings(enabled=())) == []


def test_gate_options_are_checked_with_one_line_errors(tmp_path):
    assert parse_gates("all") == GATES and parse_gates("none") == ()
    assert parse_gates("meta, truncated") == ("truncated", "meta")
    with pytest.raises(CaiError, match="--gates: unknown quality gate 'trunc'"):
        resolve_config({"gates": "trunc"})
    with pytest.raises(CaiError, match="--echo-threshold must be a share in"):
        resolve_config({"echo_threshold": 1.5})
    with pytest.raises(CaiError, match="--repetition-threshold"):
        resolve_config({"repetition_threshold": 0})
    bad = tmp_path / "meta.txt"
    bad.write_text("# fine\n^(unclosed\n", encoding="utf-8")
    with pytest.raises(CaiError, match=r"meta.txt:2"):
        resolve_config({"meta_patterns": str(bad)})
    good = tmp_path / "mine.txt"
    good.write_text("^as requested\n", encoding="utf-8")
    assert [p.pattern for p in load_meta_patterns(good)] == ["^as requested"]
    assert resolve_config({"gates": "empty"}).gates == ["empty"]
    assert RunConfig().keep_flagged is False
