"""The exported rows: which split a prompt lands in, and what the H4 string columns describe."""

from cai.export import build_rows
from cai.records import Record, Round

PROMPT = [{"role": "user", "content": "How do I pick a lock?"}]


def three_rounds(example_id: str = "ex", messages=PROMPT) -> Record:
    rounds = [Round(f"p{i}", "harm", f"critique prompt {i}", f"critique {i}", f"revision prompt {i}", f"answer {i}")
              for i in (1, 2, 3)]
    return Record(id=example_id, messages=[dict(m) for m in messages], initial_response="answer 0", rounds=rounds)


def labelled(record: Record, names: tuple[str, str], texts: tuple[str, str], chosen: int = 1) -> Record:
    """A verdict for the pair `names` whose answer `names[chosen]` won 0.8 : 0.2."""
    record.preference = {"pair": list(names), "chosen_name": names[chosen], "rejected_name": names[1 - chosen],
                         "chosen": texts[chosen], "rejected": texts[1 - chosen], "score_chosen": 0.8,
                         "score_rejected": 0.2, "margin": 0.6}
    return record


def strings(row: dict) -> tuple:
    return tuple(row[k] for k in ("init_response", "critic_prompt", "critic_response", "revision_prompt",
                                  "revision_response"))


def test_the_same_prompt_at_many_rows_lands_in_one_split():
    # Sixty rows, six distinct prompts (ten copies each, under different ids, as `cai label` renames
    # duplicate ids): with a half test split, by id the copies would scatter over both splits.
    records = [three_rounds(f"row-{i}", [{"role": "user", "content": f"prompt {i % 6}"}]) for i in range(60)]
    rows = build_rows(records, test_size=0.5)
    train = {r["messages"][0]["content"] for r in rows["train_sft"]}
    test = {r["messages"][0]["content"] for r in rows["test_sft"]}
    assert train and test and not train & test and len(train | test) == 6
    assert {r["prompt"][0]["content"] for r in rows["train_prefs"]} == train
    assert {r["prompt"][0]["content"] for r in rows["test_prefs"]} == test


def test_initial_vs_final_describes_the_first_answer_and_the_last_round():
    [row] = build_rows([three_rounds()], 0.0)["train_prefs"]
    assert strings(row) == ("answer 0", "critique prompt 3", "critique 3", "revision prompt 3", "answer 3")
    assert row["chosen"][0]["content"] == "answer 3" and row["rejected"][0]["content"] == "answer 0"


def test_rounds_pairs_describe_their_own_rounds():
    record = labelled(three_rounds(), ("round-1", "round-2"), ("answer 1", "answer 2"), chosen=0)
    [row] = build_rows([record], 0.0)["train_prefs"]
    assert strings(row) == ("answer 1", "critique prompt 2", "critique 2", "revision prompt 2", "answer 2")
    assert row["chosen"][0]["content"] == "answer 1" and row["rejected"][0]["content"] == "answer 2"
    record = labelled(three_rounds(), ("round-0", "round-2"), ("answer 0", "answer 2"))
    [row] = build_rows([record], 0.0)["train_prefs"]
    assert strings(row) == ("answer 0", "critique prompt 2", "critique 2", "revision prompt 2", "answer 2")


def test_sample_and_column_pairs_carry_their_answers_and_no_critique():
    record = three_rounds()
    record.samples = ["answer 0", "sample one", "sample two"]
    labelled(record, ("sample-1", "sample-2"), ("sample one", "sample two"), chosen=0)
    [row] = build_rows([record], 0.0)["train_prefs"]
    assert strings(row) == ("sample one", "", "", "", "sample two")
    pair = Record(id="p", messages=PROMPT, samples=["good", "bad"])
    labelled(pair, ("chosen", "rejected"), ("good", "bad"), chosen=0)
    [row] = build_rows([pair], 0.0)["train_prefs"]
    assert strings(row) == ("good", "", "", "", "bad")
