"""Tests of uare.model.tokenizer: training, the two folder formats, special-token ids and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from tokenizers import AddedToken, pre_tokenizers

from uare.errors import UareError
from uare.model.tokenizer import (
    QUALITY_SPECIAL_TOKENS,
    SpecialTokens,
    Tokenizer,
    TokenizerError,
    _missing_merges,
    _train_bpe,
    quality_corpus,
    train_quality_tokenizer,
)
from uare.quality import LEVELS, SCORE_QUESTION, score_answer

VOCAB = 600
SAMPLES = 600

# Varied texts: quality language, unicode (accents, CJK, RTL, emoji with ZWJ), control characters,
# newlines and runs of spaces, digits, contractions, and the special-token strings themselves.
TEXTS: list[str] = [
    "",
    " ",
    "The quality of the image is good.",
    "User intent: Upscale 4x.\nQuality analysis: fair (2.73/5).\n\nEnhancement plan: 1. denoise; 2. deblur.",
    "Ünïcödé façade — naïve café, Straße, Ωμέγα, Привет, 日本語のテキスト, مرحبا بالعالم",
    "emoji 😀🎉👩‍👩‍👧 and flags 🇫🇷 and ✨",
    "tabs\tand\r\nwindows newlines\n\n\n   trailing spaces   ",
    "numbers 0 12 345 6789 3.14159 1e-9 -42 100% 1920x1080",
    "don't it's we're they've I'm you'll he'd DON'T IT'S",
    "<|im_start|>hello<|im_end|><|vision_start|><|vision_end|><|endoftext|>",
    "x<|im_start|>y <|im_end|> z",
    "symbols ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./ ×÷±",
    "\x00\x01 control \x7f bytes",
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train_quality_tokenizer(vocab_size=VOCAB, n_samples=SAMPLES, seed=0)


@pytest.fixture(scope="module")
def folder(tok: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    tok.save(out)
    return out


def _copy(
    src: Path, dst: Path, names: tuple[str, ...] = ("vocab.json", "merges.txt", "tokenizer_config.json")
) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _random_texts(n: int, seed: int) -> list[str]:
    """Random strings over ASCII, Latin-1, combining marks, CJK, emoji and whitespace code points."""
    rng = np.random.default_rng(seed)
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x300, 0x36F), (0x4E00, 0x4FFF), (0x1F600, 0x1F64F), (0x9, 0xD)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(int(rng.integers(1, 40))):
            lo, hi = ranges[int(rng.integers(len(ranges)))]
            chars.append(chr(int(rng.integers(lo, hi + 1))))
        out.append("".join(chars))
    return out


# ---- training -------------------------------------------------------------------------------------


def test_trained_vocabulary_layout(tok: Tokenizer) -> None:
    assert tok.vocab_size == VOCAB == len(tok)
    # Special tokens take the last ids, in QUALITY_SPECIAL_TOKENS order, right after the learned vocabulary.
    expected = {t: VOCAB - len(QUALITY_SPECIAL_TOKENS) + i for i, t in enumerate(QUALITY_SPECIAL_TOKENS)}
    assert {t: tok.token_to_id(t) for t in QUALITY_SPECIAL_TOKENS} == expected
    s = tok.special
    assert isinstance(s, SpecialTokens)
    assert (s.pad, s.bos, s.eos, s.start_of_image, s.end_of_image) == tuple(expected.values())
    assert tok.id_to_token(s.bos) == "<|im_start|>" and tok.id_to_token(s.eos) == "<|im_end|>"
    assert tok.id_to_token(s.start_of_image) == "<|vision_start|>"
    assert tok.id_to_token(s.end_of_image) == "<|vision_end|>"
    assert tok.id_to_token(VOCAB) is None and tok.id_to_token(-1) is None
    with pytest.raises(AttributeError):
        s.bos = 0  # type: ignore[misc]  # frozen
    # The full byte alphabet is present, so any text encodes.
    assert all(tok.token_to_id(c) is not None for c in pre_tokenizers.ByteLevel.alphabet())


def test_level_words_are_single_tokens(tok: Tokenizer) -> None:
    ids = tok.level_ids()
    assert len(set(ids)) == len(LEVELS)
    for word, idx in zip(LEVELS, ids, strict=True):
        assert tok.decode([idx]) == " " + word
        assert tok.word_id(word) == idx
        # In the Q-Align answer the level word is exactly that token.
        answer = tok.encode(score_answer(word))
        assert idx in answer and tok.decode(answer) == score_answer(word)
    assert tok.level_ids(["good", "bad"]) == [ids[3], ids[0]]


def test_level_words_forced_when_training_does_not_merge_them() -> None:
    # With 315 model tokens the trainer alone leaves the level words split; the forced merges fix that
    # without exceeding the requested size.
    corpus = list(quality_corpus(300, 0))
    words = [" " + w for w in LEVELS]
    assert _missing_merges(_train_bpe(corpus, 320 - len(QUALITY_SPECIAL_TOKENS)), words) > 0
    small = train_quality_tokenizer(vocab_size=320, n_samples=300, seed=0)
    assert small.vocab_size <= 320
    assert [small.decode([i]) for i in small.level_ids()] == words
    # Forcing did not break anything else.
    for text in TEXTS[2:8]:
        assert small.decode(small.encode(text)) == text


def test_word_id_rejects_multi_token_words(tok: Tokenizer) -> None:
    with pytest.raises(TokenizerError, match="not a single token"):
        tok.word_id("supercalifragilistic")
    with pytest.raises(UareError):
        tok.level_ids(["good", "xylophonequux"])


def test_training_is_deterministic(tok: Tokenizer) -> None:
    again = train_quality_tokenizer(vocab_size=VOCAB, n_samples=SAMPLES, seed=0)
    assert again.backend.to_str() == tok.backend.to_str()
    other = train_quality_tokenizer(vocab_size=VOCAB, n_samples=SAMPLES, seed=1)
    assert other.backend.to_str() != tok.backend.to_str()


def test_training_is_deterministic_across_processes(tok: Tokenizer, tmp_path: Path) -> None:
    # Another interpreter has other hash seeds (Python's and the Rust trainer's hash maps).
    code = (
        "import sys; from uare.model.tokenizer import train_quality_tokenizer; "
        f"train_quality_tokenizer({VOCAB}, {SAMPLES}, 0).save(sys.argv[1], qwen2_files=False)"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, timeout=120)
    tok.save(tmp_path / "here", qwen2_files=False)
    assert (tmp_path / "tokenizer.json").read_bytes() == (tmp_path / "here" / "tokenizer.json").read_bytes()


def test_quality_corpus_is_seeded_and_covers_the_language() -> None:
    a = list(quality_corpus(120, seed=3))
    assert a == list(quality_corpus(120, seed=3))
    assert a != list(quality_corpus(120, seed=4))
    joined = "\n".join(a)
    for needle in ("User intent:", "Expected result:", SCORE_QUESTION, "/5", "image"):
        assert needle in joined
    for level in LEVELS:
        assert score_answer(level) in joined


def test_train_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_quality_tokenizer(vocab_size=100, n_samples=10)
    with pytest.raises(ValueError, match="n_samples"):
        train_quality_tokenizer(vocab_size=600, n_samples=0)


# ---- encoding -------------------------------------------------------------------------------------


def test_roundtrip(tok: Tokenizer) -> None:
    plain = [t for t in TEXTS if "<|" not in t]
    for text in plain:  # already NFC: back exactly
        assert unicodedata.is_normalized("NFC", text)
        assert tok.decode(tok.encode(text)) == text, text
    # Random code points (combining marks in any order): back as their NFC form, never lost.
    texts = plain + _random_texts(200, seed=0)
    for text in texts:
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == unicodedata.normalize("NFC", text), text
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_encode_adds_nothing_and_normalises_nfc(tok: Tokenizer) -> None:
    assert tok.encode("") == []
    assert tok.special.bos not in tok.encode("hello") and tok.special.eos not in tok.encode("hello")
    # NFC: "e" + combining acute encodes like the precomposed "é".
    assert tok.encode("cafe\u0301") == tok.encode("caf\u00e9")
    assert tok.decode(tok.encode("cafe\u0301")) == "caf\u00e9"


def test_special_strings_in_text(tok: Tokenizer) -> None:
    s = tok.special
    ids = tok.encode("<|im_start|>good<|im_end|>")
    assert ids[0] == s.bos and ids[-1] == s.eos
    assert tok.decode(ids) == "good"
    assert tok.decode(ids, skip_special_tokens=False) == "<|im_start|>good<|im_end|>"
    wrapped = [s.bos, *tok.encode("fine"), s.eos, s.start_of_image, s.end_of_image, s.pad]
    assert tok.decode(wrapped) == "fine"


def test_decode_rejects_negative_ids(tok: Tokenizer) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        tok.decode([1, -3])
    # Ids past the vocabulary (padding rows of an embedding table) have no token and are dropped.
    assert tok.decode([*tok.encode("ok"), tok.vocab_size + 10]) == "ok"


# ---- folders --------------------------------------------------------------------------------------


def test_save_writes_qwen2_files(tok: Tokenizer, folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [
        "merges.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg["tokenizer_class"] == "Qwen2Tokenizer"
    assert (
        cfg["eos_token"] == "<|im_end|>" and cfg["pad_token"] == "<|endoftext|>" and cfg["bos_token"] is None
    )
    assert isinstance(cfg["model_max_length"], int)
    decoder = {int(k): v for k, v in cfg["added_tokens_decoder"].items()}
    assert {v["content"]: k for k, v in decoder.items()} == {
        t: tok.token_to_id(t) for t in QUALITY_SPECIAL_TOKENS
    }
    assert all(v["special"] is True for v in decoder.values())
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    # Added tokens live in the config only, as in Qwen2.5.
    assert len(vocab) == VOCAB - len(QUALITY_SPECIAL_TOKENS)
    assert not set(QUALITY_SPECIAL_TOKENS) & set(vocab)
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2" and all(len(m.split(" ")) == 2 for m in merges[1:])


def test_both_folder_paths_agree(tok: Tokenizer, folder: Path, tmp_path: Path) -> None:
    via_json = Tokenizer.from_folder(folder)
    via_merges = Tokenizer.from_folder(_copy(folder, tmp_path / "qwen2"))
    assert not (tmp_path / "qwen2" / "tokenizer.json").exists()
    texts = TEXTS + _random_texts(100, seed=1)
    for loaded in (via_json, via_merges):
        assert loaded.vocab_size == tok.vocab_size
        assert loaded.special == tok.special
        assert loaded.level_ids() == tok.level_ids()
        for text in texts:
            assert loaded.encode(text) == tok.encode(text), text
            ids = tok.encode(text)
            for skip in (True, False):
                assert loaded.decode(ids, skip_special_tokens=skip) == tok.decode(
                    ids, skip_special_tokens=skip
                )
    # And the Qwen2-files tokenizer saves back to the same files.
    via_merges.save(tmp_path / "resaved")
    for name in ("vocab.json", "merges.txt"):
        assert (tmp_path / "resaved" / name).read_bytes() == (folder / name).read_bytes()


@pytest.mark.parametrize(
    "offsets",
    [
        # Permuted but contiguous after the vocabulary (the layout tokenizers can number itself).
        {"<|im_end|>": 0, "<|vision_end|>": 1, "<|endoftext|>": 2, "<|im_start|>": 3, "<|vision_start|>": 4},
        # Permuted with gaps: the tokens must be placed at their ids explicitly.
        {"<|im_end|>": 0, "<|vision_end|>": 1, "<|endoftext|>": 2, "<|im_start|>": 7, "<|vision_start|>": 4},
    ],
)
def test_special_ids_are_read_from_tokenizer_config(
    tok: Tokenizer, folder: Path, tmp_path: Path, offsets: dict[str, int]
) -> None:
    n = VOCAB - len(QUALITY_SPECIAL_TOKENS)
    ids = {t: n + k for t, k in offsets.items()}
    out = _copy(folder, tmp_path / "custom")
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["added_tokens_decoder"] = {str(i): {"content": t, "special": True} for t, i in ids.items()}
    (out / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    custom = Tokenizer.from_folder(out)
    assert custom.special == SpecialTokens(
        bos=ids["<|im_start|>"],
        eos=ids["<|im_end|>"],
        start_of_image=ids["<|vision_start|>"],
        end_of_image=ids["<|vision_end|>"],
        pad=ids["<|endoftext|>"],
    )
    assert custom.special != tok.special
    assert custom.vocab_size == max(ids.values()) + 1  # max id + 1, gaps included
    assert custom.encode("<|im_start|>good<|im_end|>") == [ids["<|im_start|>"], *tok.encode("good"), n]
    assert custom.decode([ids["<|im_start|>"], n], skip_special_tokens=False) == "<|im_start|><|im_end|>"
    assert custom.decode([ids["<|im_start|>"], *tok.encode("good"), n]) == "good"
    # Saved and reloaded through tokenizer.json, the ids survive.
    custom.save(tmp_path / "custom2")
    again = Tokenizer.from_folder(tmp_path / "custom2")
    assert again.special == custom.special
    assert again.encode(TEXTS[9]) == custom.encode(TEXTS[9])


def test_special_ids_are_read_from_tokenizer_json(tok: Tokenizer, tmp_path: Path) -> None:
    # The same BPE with the special tokens added in reverse order: other ids, read from tokenizer.json.
    state = json.loads(tok.backend.to_str())
    state["added_tokens"] = []
    backend = tokenizers.Tokenizer.from_str(json.dumps(state))
    for t in reversed(QUALITY_SPECIAL_TOKENS):
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False)])
    (tmp_path / "rev").mkdir()
    backend.save(str(tmp_path / "rev" / "tokenizer.json"))
    rev = Tokenizer.from_folder(tmp_path / "rev")
    n = VOCAB - len(QUALITY_SPECIAL_TOKENS)
    assert rev.special == SpecialTokens(bos=n + 3, eos=n + 2, start_of_image=n + 1, end_of_image=n, pad=n + 4)
    assert rev.special != tok.special


def test_tokenizer_json_with_displaced_ids_is_refused(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path / "bad", names=("tokenizer.json",))
    state = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    state["added_tokens"][0]["id"] += 50  # tokenizers would silently renumber it
    (out / "tokenizer.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(TokenizerError, match="<\\|endoftext\\|>.*id"):
        Tokenizer.from_folder(out)
    # With the Qwen2 files next to it, the folder still loads, from those.
    _copy(folder, out)
    with pytest.warns(UserWarning, match="vocab.json"):
        loaded = Tokenizer.from_folder(out)
    assert loaded.special.pad == VOCAB - len(QUALITY_SPECIAL_TOKENS)


# ---- errors ---------------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UareError, match="does not exist"):
        Tokenizer.from_folder(tmp_path / "nope")


def test_missing_files(folder: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        UareError, match="no tokenizer.json.*vocab.json, merges.txt, tokenizer_config.json"
    ) as e:
        Tokenizer.from_folder(empty)
    assert str(empty) in str(e.value)
    partial = _copy(folder, tmp_path / "partial", names=("vocab.json", "tokenizer_config.json"))
    with pytest.raises(UareError, match="missing merges.txt"):
        Tokenizer.from_folder(partial)
    no_cfg = _copy(folder, tmp_path / "no_cfg", names=("vocab.json", "merges.txt"))
    with pytest.raises(UareError, match="missing tokenizer_config.json"):
        Tokenizer.from_folder(no_cfg)


def test_missing_special_token(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path / "no_vision")
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["added_tokens_decoder"] = {
        k: v for k, v in cfg["added_tokens_decoder"].items() if v["content"] != "<|vision_start|>"
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(
        UareError, match=r"no special token '<\|vision_start\|>' \(needed as start_of_image\)"
    ) as e:
        Tokenizer.from_folder(out)
    assert str(out) in str(e.value)
    del cfg["added_tokens_decoder"]
    (out / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(UareError, match="added_tokens_decoder"):
        Tokenizer.from_folder(out)
    with pytest.raises(TokenizerError, match="<\\|im_start\\|>"):
        Tokenizer(tokenizers.Tokenizer(tokenizers.models.BPE()))


def test_corrupt_files(folder: Path, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad_json"
    bad_json.mkdir()
    (bad_json / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UareError, match="cannot read tokenizer.json"):
        Tokenizer.from_folder(bad_json)

    bad_merges = _copy(folder, tmp_path / "bad_merges")
    (bad_merges / "merges.txt").write_text("#version: 0.2\nqq zz\n", encoding="utf-8")
    with pytest.raises(UareError, match="do not match"):
        Tokenizer.from_folder(bad_merges)
    (bad_merges / "merges.txt").write_text("#version: 0.2\na b c\n", encoding="utf-8")
    with pytest.raises(UareError, match="line 2"):
        Tokenizer.from_folder(bad_merges)

    clash = _copy(folder, tmp_path / "clash")
    cfg = json.loads((clash / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["added_tokens_decoder"]["5"] = {"content": "<|extra|>", "special": True}  # id 5 is a byte token
    (clash / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(UareError, match="clashes"):
        Tokenizer.from_folder(clash)
