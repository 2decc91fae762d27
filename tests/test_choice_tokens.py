"""Which tokens count as a letter, on the three tokenizer families cai meets: SentencePiece (Llama 2,
Mistral, Gemma), Llama 3 style byte-level BPE, and GPT-2 style byte-level BPE (the default model).

The SentencePiece and byte-level tokenizers are trained here, in well under a second, from a few
hundred words; the rule under test is `cai.engines.choices.choice_token_ids`, which the hf and vLLM
engines use directly and the openai engine through `text_variants`."""

from __future__ import annotations

import math
import random

import pytest

from cai.engines.choices import choice_token_ids, probs_from_top_k, text_variants

WORDS = ("the answer is response assistant helpful harmless honest question pick one letter option first "
         "second better").split()


def corpus() -> list[str]:
    """About 450 words in which "A" and "B" stand alone (" A") and after a bracket ("(A)")."""
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS + ["A", "B"] * 2) for _ in range(8)) + f" ({rng.choice('AB')})"
            for _ in range(50)]


@pytest.fixture(scope="module")
def sentencepiece_tokenizer(tmp_path_factory):
    """A SentencePiece BPE model wrapped by transformers with the pipeline Llama 2 and Mistral ship in
    their tokenizer.json (prepend "▁", spaces to "▁"): " A" becomes "▁▁A", encoded as a bare "▁"
    and "▁A"; "(A" as "▁(" and "A"."""
    import sentencepiece
    from tokenizers import normalizers
    from transformers import LlamaTokenizerFast

    folder = tmp_path_factory.mktemp("sentencepiece")
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_prefix=str(folder / "tokenizer"), model_type="bpe",
        vocab_size=80, hard_vocab_limit=False, remove_extra_whitespaces=False, minloglevel=2)
    tokenizer = LlamaTokenizerFast.from_pretrained(str(folder))
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.backend_tokenizer.pre_tokenizer = None
    return tokenizer


@pytest.fixture(scope="module")
def byte_level_tokenizer():
    """Llama 3 style: a regex split, then byte-level BPE without its own regex; " A" is one token "ĠA"."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r" ?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus(), trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|end|>"],
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|end|>")


@pytest.fixture(scope="module")
def default_tokenizer(default_model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model_path)


def ids(tokenizer, *tokens: str) -> set[int]:
    return {tokenizer.convert_tokens_to_ids(t) for t in tokens}


def top_k(tokenizer, probabilities: dict[str, float]) -> list[tuple[int, float]]:
    """A top-k list as vLLM returns it: (token id, log-probability)."""
    return [(tokenizer.convert_tokens_to_ids(token), math.log(p)) for token, p in probabilities.items()]


def test_sentencepiece_bare_space_is_not_a_letter(sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    bare_space = tokenizer.convert_tokens_to_ids("▁")
    # The shape this test is about: " A" starts with a bare space, "(A" continues with "A".
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode(" A", add_special_tokens=False)) == ["▁", "▁A"]
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("(A", add_special_tokens=False)) == ["▁(", "A"]
    assert tokenizer.decode([bare_space]).strip() == ""
    assert choice_token_ids(tokenizer, "A") == ids(tokenizer, "A", "▁A")
    assert choice_token_ids(tokenizer, "B") == ids(tokenizer, "B", "▁B")

    # After "The answer is: (" most mass on the bare space must not count for either letter.
    variants = {c: choice_token_ids(tokenizer, c) for c in "AB"}
    top = top_k(tokenizer, {"▁": 0.6, "A": 0.2, "▁A": 0.05, "B": 0.08, "▁B": 0.02, "▁(": 0.05})
    probs = probs_from_top_k(top, variants, prompt_tokens=9)
    assert probs.probs == {"A": pytest.approx(0.25), "B": pytest.approx(0.10)}
    assert probs.missing == [] and probs.prompt_tokens == 9
    # The label the judge gives: A clearly preferred, not pulled toward 0.5.
    assert probs.probs["A"] / (probs.probs["A"] + probs.probs["B"]) == pytest.approx(0.25 / 0.35)


def test_sentencepiece_text_variants_for_a_server(sentencepiece_tokenizer):
    """A vLLM server decodes each top-k token alone: "▁A" and "A" come back as "A", the bare space as ""."""
    tokenizer = sentencepiece_tokenizer
    variants = text_variants(["A", "B"], tokenizer)
    assert variants == {"A": {"A", " A"}, "B": {"B", " B"}}
    top = [("", math.log(0.6)), ("A", math.log(0.2)), ("A", math.log(0.05)), ("B", math.log(0.1))]
    assert probs_from_top_k(top, variants).probs == {"A": pytest.approx(0.25), "B": pytest.approx(0.1)}


def test_hf_engine_scores_sentencepiece_letters_with_the_shared_rule(sentencepiece_tokenizer, tmp_path):
    """A tiny random Llama with the SentencePiece tokenizer: the hf engine's P(A) after "(" is the
    model's probability of "A" plus "▁A", nothing else."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from cai.engines.hf import HFEngine

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=sentencepiece_tokenizer.backend_tokenizer,
                                        unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    tokenizer.save_pretrained(tmp_path / "llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "llama")
    engine = HFEngine(str(tmp_path / "llama"), dtype="float32", batch_size=2)
    assert engine.tokenizer.convert_ids_to_tokens(engine.tokenizer.encode(" A", add_special_tokens=False))[0] == "▁"
    question = [{"role": "user", "content": "pick one letter (A) or (B)"}]
    [scored] = engine.choice_probs([question], ["A", "B", "xylophone"], "the answer is (")
    assert scored.missing == ["xylophone"] and set(scored.probs) == {"A", "B"}  # no token spells it

    text = engine.tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    inputs = engine.tokenizer(text + "the answer is (", return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        probs = torch.softmax(engine.model(**inputs).logits[0, -1].float(), dim=-1)
    for letter in "AB":
        expected = float(probs[sorted(ids(tokenizer, letter, "▁" + letter))].sum())
        assert scored.probs[letter] == pytest.approx(expected, rel=1e-5)


def test_byte_level_bpe_counts_the_letter_with_and_without_space(byte_level_tokenizer):
    tokenizer = byte_level_tokenizer
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode(" A", add_special_tokens=False)) == ["ĠA"]
    assert choice_token_ids(tokenizer, "A") == ids(tokenizer, "A", "ĠA")
    assert choice_token_ids(tokenizer, "B") == ids(tokenizer, "B", "ĠB")
    variants = {c: choice_token_ids(tokenizer, c) for c in "AB"}
    top = top_k(tokenizer, {"Ġ": 0.5, "A": 0.2, "ĠA": 0.1, "B": 0.15})
    assert probs_from_top_k(top, variants).probs == {"A": pytest.approx(0.3), "B": pytest.approx(0.15)}
    assert text_variants(["A"], tokenizer) == {"A": {"A", " A"}}


def test_gpt2_style_default_tokenizer(default_tokenizer):
    tokenizer = default_tokenizer
    assert choice_token_ids(tokenizer, "A") == ids(tokenizer, "A", "ĠA")
    assert choice_token_ids(tokenizer, "B") == ids(tokenizer, "B", "ĠB")
    # A word the vocabulary splits: its first token is only the start of it, so nothing counts.
    assert len(tokenizer.encode("Xylophonist", add_special_tokens=False)) > 1
    assert choice_token_ids(tokenizer, "Xylophonist") == set()
    variants = {c: choice_token_ids(tokenizer, c) for c in ("A", "B", "Xylophonist")}
    top = top_k(tokenizer, {"A": 0.4, "ĠA": 0.1, "ĠB": 0.3, "Ġ": 0.1})
    probs = probs_from_top_k(top, variants)
    assert probs.probs == {"A": pytest.approx(0.5), "B": pytest.approx(0.3)}
    assert probs.missing == ["Xylophonist"]  # below the top k, which is not probability 0


def test_openai_text_variants_with_and_without_a_tokenizer(default_tokenizer):
    assert text_variants(["A", "B"]) == {"A": {"A", " A"}, "B": {"B", " B"}}
    assert text_variants(["A", "B"], default_tokenizer) == {"A": {"A", " A"}, "B": {"B", " B"}}
    top = [(" A", math.log(0.6)), ("A", math.log(0.1)), ("C", math.log(0.2))]
    probs = probs_from_top_k(top, text_variants(["A", "B"], default_tokenizer))
    assert probs.probs == {"A": pytest.approx(0.7)} and probs.missing == ["B"]
