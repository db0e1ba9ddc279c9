"""Text tokenizer: Qwen2-style byte-level BPE, loaded from checkpoint folders or trained on the quality language.

Two kinds of folders are read by :meth:`Tokenizer.from_folder`:

* ``tokenizer.json`` (HuggingFace ``tokenizers`` format): loaded as is. BAGEL-7B-MoT ships one, and so
  do the folders :meth:`Tokenizer.save` writes.
* ``vocab.json`` + ``merges.txt`` + ``tokenizer_config.json`` (the files of the slow ``Qwen2Tokenizer``):
  the byte-level BPE is rebuilt with Qwen2's normalizer (NFC), pre-tokenizer (regex split, then
  byte-level) and decoder, and the tokens of ``added_tokens_decoder`` are added with their ids.

The special tokens are looked up *by string*, as BAGEL's ``add_special_tokens`` does, and their ids are
read from the tokenizer, never assumed: ``<|im_start|>`` opens a text segment (bos), ``<|im_end|>``
closes it (eos), ``<|vision_start|>``/``<|vision_end|>`` bracket an image and ``<|endoftext|>`` pads.
In Qwen2.5 they are 151644, 151645, 151652, 151653 and 151643.

:func:`train_quality_tokenizer` trains the small tokenizer of the tiny CPU model on texts of
:mod:`uare.quality`; it is deterministic for a seed and keeps the five Q-Align level words single tokens,
so level scoring (:meth:`Tokenizer.level_ids`) works on it as on Qwen2.5.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

from uare.degrade.types import CATEGORIES, CORPUS_CATEGORIES
from uare.errors import UareError
from uare.quality import (
    LEVELS,
    NOUNS,
    RESTORE_TASKS,
    SCORE_QUESTION,
    TASKS,
    QualitySummary,
    analysis_text,
    comparison_text,
    description_text,
    instruction,
    score_answer,
    summary_from_severities,
)

#: Qwen2's pre-tokenizer regex (contractions, letter runs, single digits, punctuation, newlines, spaces).
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

#: The special-token strings BAGEL uses; their ids come from the tokenizer.
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
START_OF_IMAGE_TOKEN = "<|vision_start|>"
END_OF_IMAGE_TOKEN = "<|vision_end|>"
PAD_TOKEN = "<|endoftext|>"

#: Special tokens of a trained quality tokenizer, in the order of their ids (right after the learned
#: vocabulary), the same relative order as in Qwen2.5 (151643, 151644, 151645, 151652, 151653).
QUALITY_SPECIAL_TOKENS: tuple[str, ...] = (
    PAD_TOKEN,
    BOS_TOKEN,
    EOS_TOKEN,
    START_OF_IMAGE_TOKEN,
    END_OF_IMAGE_TOKEN,
)

#: ``model_max_length`` written to ``tokenizer_config.json`` when the tokenizer does not know one (Qwen2.5's).
DEFAULT_MODEL_MAX_LENGTH = 131072


class TokenizerError(UareError):
    """A tokenizer folder is missing, incomplete or inconsistent, or a word is not a single token."""


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens BAGEL wraps text and images with."""

    bos: int
    eos: int
    start_of_image: int
    end_of_image: int
    pad: int


# Attribute of SpecialTokens -> token string.
_SPECIAL_FIELDS: dict[str, str] = {
    "bos": BOS_TOKEN,
    "eos": EOS_TOKEN,
    "start_of_image": START_OF_IMAGE_TOKEN,
    "end_of_image": END_OF_IMAGE_TOKEN,
    "pad": PAD_TOKEN,
}


def _qwen2_pipeline(tok: tokenizers.Tokenizer) -> None:
    """Install Qwen2's normalizer, pre-tokenizer, post-processor and decoder on ``tok``."""
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            # use_regex=False: the split above already did GPT-2's job with Qwen2's pattern.
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()


def _read_json(path: Path, folder: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TokenizerError(f"tokenizer folder {folder}: cannot read {path.name}: {e}") from None


def _read_merges(path: Path, folder: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TokenizerError(f"tokenizer folder {folder}: cannot read {path.name}: {e}") from None
    merges: list[tuple[str, str]] = []
    for n, line in enumerate(lines, 1):
        if not line or (n == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise TokenizerError(
                f"tokenizer folder {folder}: {path.name} line {n} is not 'left right': {line!r}"
            )
        merges.append((parts[0], parts[1]))
    return merges


def _added_tokens(config: dict[str, Any], folder: Path) -> list[tuple[int, AddedToken]]:
    """``added_tokens_decoder`` of a ``tokenizer_config.json`` as (id, AddedToken), sorted by id."""
    table = config.get("added_tokens_decoder")
    if not isinstance(table, dict):
        raise TokenizerError(
            f"tokenizer folder {folder}: tokenizer_config.json has no 'added_tokens_decoder'; "
            "the special-token ids cannot be known"
        )
    out: list[tuple[int, AddedToken]] = []
    for key, entry in table.items():
        try:
            idx = int(key)
            content = entry["content"]
        except (TypeError, ValueError, KeyError):
            raise TokenizerError(
                f"tokenizer folder {folder}: bad added_tokens_decoder entry {key!r}: {entry!r}"
            ) from None
        if idx < 0 or not isinstance(content, str) or not content:
            raise TokenizerError(
                f"tokenizer folder {folder}: bad added_tokens_decoder entry {key!r}: {entry!r}"
            )
        out.append(
            (
                idx,
                AddedToken(
                    content,
                    single_word=bool(entry.get("single_word", False)),
                    lstrip=bool(entry.get("lstrip", False)),
                    rstrip=bool(entry.get("rstrip", False)),
                    normalized=bool(entry.get("normalized", False)),
                    special=bool(entry.get("special", True)),
                ),
            )
        )
    out.sort(key=lambda item: item[0])
    return out


def _from_qwen2_files(folder: Path) -> tuple[tokenizers.Tokenizer, dict[str, Any]]:
    """Rebuild a Qwen2 tokenizer from ``vocab.json`` + ``merges.txt`` + ``tokenizer_config.json``."""
    files = ("vocab.json", "merges.txt", "tokenizer_config.json")
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise TokenizerError(
            f"tokenizer folder {folder} has no tokenizer.json and is missing {', '.join(missing)} "
            "(need tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json)"
        )
    vocab = _read_json(folder / "vocab.json", folder)
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise TokenizerError(f"tokenizer folder {folder}: vocab.json is not a {{token: id}} mapping")
    merges = _read_merges(folder / "merges.txt", folder)
    config = _read_json(folder / "tokenizer_config.json", folder)
    if not isinstance(config, dict):
        raise TokenizerError(f"tokenizer folder {folder}: tokenizer_config.json is not a JSON object")
    added = _added_tokens(config, folder)

    ids_in_use = {i: t for t, i in vocab.items()}
    for idx, token in added:
        if vocab.get(token.content, idx) != idx or ids_in_use.get(idx, token.content) != token.content:
            raise TokenizerError(
                f"tokenizer folder {folder}: added token {token.content!r} (id {idx}) clashes with vocab.json"
            )
    # AddedVocabulary numbers new tokens from the model size on, so it honours the configured ids only
    # when they follow the vocabulary contiguously (as in Qwen2.5). Otherwise the tokens are first put
    # into the BPE vocabulary at their ids, and adding them then reuses those ids.
    n = len(vocab)
    contiguous = sorted(vocab.values()) == list(range(n)) and [i for i, _ in added] == list(
        range(n, n + len(added))
    )
    model_vocab = dict(vocab)
    if not contiguous:
        model_vocab.update({token.content: idx for idx, token in added})
    try:
        bpe = models.BPE(vocab=model_vocab, merges=merges, fuse_unk=False, byte_fallback=False)
    except Exception as e:  # the Rust side raises a plain Exception for merges of unknown tokens
        raise TokenizerError(
            f"tokenizer folder {folder}: vocab.json and merges.txt do not match: {e}"
        ) from None
    tok = tokenizers.Tokenizer(bpe)
    _qwen2_pipeline(tok)
    for _, token in added:  # one at a time, in id order, so each gets the next id
        if token.special:
            tok.add_special_tokens([token])
        else:
            tok.add_tokens([token])
    for idx, token in added:
        if tok.token_to_id(token.content) != idx:  # defensive: the ids are the whole point
            raise TokenizerError(f"tokenizer folder {folder}: could not give {token.content!r} its id {idx}")
    return tok, config


def _from_tokenizer_json(folder: Path) -> tokenizers.Tokenizer:
    """Load ``tokenizer.json``, checking that every added token got the id the file gives it."""
    path = folder / "tokenizer.json"
    try:
        text = path.read_text(encoding="utf-8")
        state = json.loads(text)
        tok = tokenizers.Tokenizer.from_str(text)
    except Exception as e:  # OSError, JSONDecodeError, or the plain Exception of a malformed tokenizer
        raise TokenizerError(f"tokenizer folder {folder}: cannot read tokenizer.json: {e}") from None
    # tokenizers numbers added tokens itself and only logs a mismatch; a silently moved special token
    # would wrap every segment in the wrong ids, so refuse it.
    for entry in state.get("added_tokens") or []:
        got = tok.token_to_id(entry.get("content", ""))
        if got != entry.get("id"):
            raise TokenizerError(
                f"tokenizer folder {folder}: tokenizer.json gives {entry.get('content')!r} id {entry.get('id')} "
                f"but it loads as id {got} (added-token ids must follow the vocabulary)"
            )
    return tok


class Tokenizer:
    """A byte-level BPE tokenizer with BAGEL's special tokens (a thin wrapper of ``tokenizers.Tokenizer``).

    ``encode`` never adds special tokens by itself: BAGEL wraps a segment as ``[bos] + encode(text) +
    [eos]`` and images in ``start_of_image``/``end_of_image`` explicitly. Special-token strings that occur
    in the text are recognised as their tokens (as in HuggingFace's Qwen2 tokenizers).
    """

    def __init__(
        self, tokenizer: tokenizers.Tokenizer, model_max_length: int | None = None, source: str = ""
    ) -> None:
        """Wrap ``tokenizer``; raise :class:`TokenizerError` if it lacks one of BAGEL's special tokens."""
        self._tok = tokenizer
        self.model_max_length = model_max_length
        self._source = source or "tokenizer"
        ids: dict[str, int] = {}
        for name, content in _SPECIAL_FIELDS.items():
            idx = tokenizer.token_to_id(content)
            if idx is None:
                raise TokenizerError(f"{self._source} has no special token {content!r} (needed as {name})")
            ids[name] = idx
        self._special = SpecialTokens(**ids)
        self._vocab_size = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1

    # ---- loading and saving -------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, path: str | Path) -> Tokenizer:
        """Load ``tokenizer.json`` from ``path``, else rebuild from ``vocab.json`` + ``merges.txt`` + config.

        Raises :class:`TokenizerError` (a :class:`~uare.errors.UareError`) naming the folder and the
        missing file or special token.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise TokenizerError(f"tokenizer folder {folder} does not exist or is not a folder")
        config: dict[str, Any] = {}
        qwen2_files = all(
            (folder / n).is_file() for n in ("vocab.json", "merges.txt", "tokenizer_config.json")
        )
        if (folder / "tokenizer.json").is_file():
            try:
                tok = _from_tokenizer_json(folder)
            except TokenizerError as e:
                if not qwen2_files:
                    raise
                warnings.warn(f"{e}; using vocab.json + merges.txt instead", stacklevel=2)
                tok, config = _from_qwen2_files(folder)
            else:
                if (folder / "tokenizer_config.json").is_file():
                    loaded = _read_json(folder / "tokenizer_config.json", folder)
                    config = loaded if isinstance(loaded, dict) else {}
        else:
            tok, config = _from_qwen2_files(folder)
        max_len = config.get("model_max_length")
        # HF writes a huge float sentinel (1e30) when unknown; keep only real integer lengths.
        max_len = max_len if isinstance(max_len, int) and 0 < max_len < 2**40 else None
        return cls(tok, model_max_length=max_len, source=f"tokenizer folder {folder}")

    def save(self, folder: str | Path, qwen2_files: bool = True) -> None:
        """Write ``tokenizer.json``; with ``qwen2_files`` also ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json``.

        The Qwen2 files follow Qwen2.5's layout, so the folder loads with or without ``tokenizer.json``
        (here and in HuggingFace ``transformers``).
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(out / "tokenizer.json"))
        if not qwen2_files:
            return
        model = json.loads(self._tok.to_str())["model"]
        if model.get("type") != "BPE":
            raise TokenizerError(f"cannot write Qwen2 files for a {model.get('type')} model (BPE only)")
        added = self._tok.get_added_tokens_decoder()
        added_contents = {t.content for t in added.values()}
        # Added tokens live in tokenizer_config.json, not in vocab.json (Qwen2.5's layout).
        vocab = {
            t: i for t, i in sorted(model["vocab"].items(), key=lambda kv: kv[1]) if t not in added_contents
        }
        (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        (out / "merges.txt").write_text(
            "#version: 0.2\n" + "".join(m + "\n" for m in merges), encoding="utf-8"
        )
        decoder = {
            str(i): {
                "content": t.content,
                "lstrip": t.lstrip,
                "normalized": t.normalized,
                "rstrip": t.rstrip,
                "single_word": t.single_word,
                "special": t.special,
            }
            for i, t in sorted(added.items())
        }
        config = {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": decoder,
            "additional_special_tokens": [BOS_TOKEN, EOS_TOKEN, START_OF_IMAGE_TOKEN, END_OF_IMAGE_TOKEN],
            "bos_token": None,
            "clean_up_tokenization_spaces": False,
            "eos_token": EOS_TOKEN,
            "errors": "replace",
            "model_max_length": self.model_max_length or DEFAULT_MODEL_MAX_LENGTH,
            "pad_token": PAD_TOKEN,
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        }
        (out / "tokenizer_config.json").write_text(
            json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )

    # ---- encoding ---------------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (NFC-normalised); no special tokens are added."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of several texts (in parallel on the Rust side)."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Text of ``ids``; invalid UTF-8 byte sequences become U+FFFD, ids without a token are dropped."""
        ids = [int(i) for i in ids]
        if any(i < 0 for i in ids):
            raise ValueError(f"token ids must be non-negative, got {min(ids)}")
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    # ---- vocabulary ------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Largest token id + 1, added tokens included (the embedding table needs at least this many rows)."""
        return self._vocab_size

    def __len__(self) -> int:
        """Same as :attr:`vocab_size`."""
        return self._vocab_size

    def token_to_id(self, token: str) -> int | None:
        """Id of a token string (byte-level form, e.g. ``"Ġgood"``), or ``None``."""
        return self._tok.token_to_id(token)

    def id_to_token(self, idx: int) -> str | None:
        """Token string of an id, or ``None`` if the id has no token."""
        return self._tok.id_to_token(int(idx)) if idx >= 0 else None

    @property
    def special(self) -> SpecialTokens:
        """Ids of bos (``<|im_start|>``), eos (``<|im_end|>``), image start/end and pad (``<|endoftext|>``)."""
        return self._special

    @property
    def backend(self) -> tokenizers.Tokenizer:
        """The wrapped ``tokenizers.Tokenizer``."""
        return self._tok

    def word_id(self, word: str) -> int:
        """The single id of ``" " + word`` (a word after a space, as the level word after "...is").

        Raises :class:`TokenizerError` when that is not exactly one token.
        """
        ids = self.encode(" " + word)
        if len(ids) != 1:
            pieces = [self.id_to_token(i) for i in ids]
            raise TokenizerError(f"{self._source}: ' {word}' is not a single token but {pieces}")
        return ids[0]

    def level_ids(self, levels: Sequence[str] = LEVELS) -> list[int]:
        """:meth:`word_id` of each level word (default: the five Q-Align levels, worst first)."""
        return [self.word_id(w) for w in levels]

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self._vocab_size}, special={self._special})"


# ---- training ----------------------------------------------------------------------------------------

# Everyday words so that text outside the quality language still gets sensible merges.
_GENERIC_TEXT = """the a an of to and in is it that this for on with as was at by be from are or have not but what all
    were when we there can been has more if no out so said will up one about other into than them its
    only some could time these two may then do first any my now such like our over man me even most made
    after also did many before must through back years where much your way well down should because each
    just those people how too little state good very make world still own see men work long get here
    between both life being under never day same another know while last might us great old year off
    come since against go came right used take three image photo picture color colour light dark bright
    sky tree water face person street city car dog cat house window night sun cloud mountain river road
    flower leaf grass building people child woman portrait landscape detail edge texture scene camera lens
    sharp soft smooth clean noisy blurry clear red green blue white black yellow orange purple brown gray
    please thank you yes question answer explain describe show tell give look see find which why who
    left right top bottom center background foreground small large big high low new old
    remove add increase decrease adjust balance contrast saturation exposure brightness shadows highlights
    vivid natural realistic vintage faded scratches stains old damaged repair retouch restore enhance
    improve fix upscale resize crop rotate straighten denoise sharpen deblur colorize recolor tone warm
    cool temperature tint hue vibrance grain film analog digital phone screenshot scan document text
    letters handwriting page print poster painting drawing sketch cartoon anime render illustration
    family wedding birthday holiday beach forest snow winter summer autumn spring sunset sunrise evening
    morning afternoon indoor outdoor room kitchen garden park bridge ocean lake field desert island
    animal bird horse fish baby girl boy friends group crowd eyes hair skin smile hands clothes shirt
    dress hat glasses mirror reflection shadow silhouette focus depth bokeh aperture shutter speed iso
    flash tripod zoom wide angle telephoto macro closeup distance foggy misty rainy stormy cloudy sunny
    overcast lamp candle neon fire smoke dust stars moon galaxy night-time daylight golden hour blue
    artifacts pixels pixelated compression blocky jagged banding halo halos moire aliasing chromatic
    aberration vignette distortion fisheye lens flare glare washed muted dull flat harsh overexposed
    underexposed noisy streaks drops haze veil blur shake motion defocus resolution quality score rate
    rating level better worse best worst slightly mildly moderately strongly severely somewhat rather
    quite really almost nearly about around roughly maybe perhaps probably certainly definitely"""
_GENERIC_WORDS: tuple[str, ...] = tuple(dict.fromkeys(_GENERIC_TEXT.split()))  # unique, in a fixed order


def _corpus_categories(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The default corpus categories (those of the first release) plus ``extra`` ones, in physical order."""
    unknown = [c for c in extra if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; expected some of {CATEGORIES}")
    return tuple(c for c in CATEGORIES if c in CORPUS_CATEGORIES or c in extra)


def _random_summary(rng: np.random.Generator, categories: Sequence[str] = CORPUS_CATEGORIES) -> QualitySummary:
    """A seeded :class:`~uare.quality.QualitySummary`: 0-4 categories, severities, kinds and scale."""
    k = int(rng.integers(0, 5))
    chosen = rng.choice(len(categories), size=k, replace=False)
    severities = {categories[int(i)]: float(rng.uniform(0.0, 5.0)) for i in chosen}
    kinds: dict[str, str] = {}
    for cat in severities:
        options = sorted(kind for (c, kind) in NOUNS if c == cat and kind is not None)
        if options:
            kinds[cat] = options[int(rng.integers(len(options)))]
    scale = (1, 2, 4)[int(rng.integers(3))]
    if "lowres" in severities and scale == 1:
        scale = 2
    return summary_from_severities(severities, kinds, scale)


def _generic_text(rng: np.random.Generator) -> str:
    """A line of everyday words, numbers and punctuation."""
    words = [_GENERIC_WORDS[int(i)] for i in rng.integers(len(_GENERIC_WORDS), size=int(rng.integers(4, 16)))]
    # Sprinkle numbers in the forms texts use: integers, decimals, percentages, sizes.
    for _ in range(int(rng.integers(0, 3))):
        form = int(rng.integers(4))
        num = int(rng.integers(0, 10000))
        token = (str(num), f"{num / 100:.2f}", f"{num % 101}%", f"{num % 2049}x{num % 1537}")[form]
        words.insert(int(rng.integers(len(words) + 1)), token)
    text = " ".join(words)
    return text[:1].upper() + text[1:] + (".", "?", "!", ",")[int(rng.integers(4))]


def quality_corpus(n_samples: int = 20000, seed: int = 0, extra_categories: Sequence[str] = ()) -> Iterator[str]:
    """Seeded texts of the quality language (every task's instructions, analyses, descriptions, comparisons,
    Q-Align questions/answers) plus everyday English; ``n_samples`` texts in a fixed order.

    Degradations are drawn from the categories of the first release (``CORPUS_CATEGORIES`` of
    :mod:`uare.degrade.types`), so the corpus -- and a tokenizer trained on it -- does not change when
    a category is added; ``extra_categories`` (e.g. ``["impulse"]``) adds newer ones.
    """
    rng = np.random.default_rng(seed)
    cats = _corpus_categories(extra_categories)
    kinds = ("instruction", "analysis", "description", "comparison", "score", "generic")
    for i in range(n_samples):
        kind = kinds[i % len(kinds)]
        if kind == "instruction":
            yield instruction(
                TASKS[int(rng.integers(len(TASKS)))], rng, scale=(1, 2, 3, 4, 8)[int(rng.integers(5))]
            )
        elif kind == "analysis":
            yield analysis_text(
                _random_summary(rng, cats), rng, task=RESTORE_TASKS[int(rng.integers(len(RESTORE_TASKS)))]
            )
        elif kind == "description":
            yield description_text(_random_summary(rng, cats), rng)
        elif kind == "comparison":
            yield comparison_text(_random_summary(rng, cats), _random_summary(rng, cats), rng)
        elif kind == "score":
            # Cycle the levels so each level word is frequent enough to be merged into one token.
            yield f"{SCORE_QUESTION} {score_answer(LEVELS[(i // len(kinds)) % len(LEVELS)])}"
        else:
            yield _generic_text(rng)


def _bpe_trainer(model_size: int) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=model_size,
        min_frequency=1,
        show_progress=False,
        # All 256 byte symbols, whether or not the corpus uses them, so that any text encodes.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],  # added after training so their ids follow the learned vocabulary
    )


def _train_bpe(corpus: Sequence[str], model_size: int) -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    _qwen2_pipeline(tok)
    tok.train_from_iterator(corpus, trainer=_bpe_trainer(model_size), length=len(corpus))
    return tok


def _pieces(tok: tokenizers.Tokenizer, text: str) -> list[str]:
    """BPE pieces of ``text``, which must pre-tokenize to one word."""
    words = tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))
    if len(words) != 1:
        raise ValueError(f"{text!r} is not one pre-tokenizer word")
    return [t.value for t in tok.model.tokenize(words[0][0])]


def _missing_merges(tok: tokenizers.Tokenizer, texts: Sequence[str]) -> int:
    """How many merges it takes to make every text of ``texts`` a single token."""
    return sum(len(_pieces(tok, t)) - 1 for t in texts)


def _force_single_tokens(tok: tokenizers.Tokenizer, texts: Sequence[str]) -> tokenizers.Tokenizer:
    """Append lowest-priority merges so that each text of ``texts`` becomes a single token.

    The new merges come after all learned ones, so they only join pieces that the learned merges
    leave apart; every other word encodes as before unless it contains the same adjacent pieces.
    """
    for text in texts:
        pieces = _pieces(tok, text)
        if len(pieces) == 1:
            continue
        state = json.loads(tok.to_str())
        model = state["model"]
        vocab: dict[str, int] = model["vocab"]
        left = pieces[0]
        for right in pieces[1:]:
            model["merges"].append([left, right])
            left = left + right
            vocab.setdefault(left, len(vocab))
        tok = tokenizers.Tokenizer.from_str(json.dumps(state))
    return tok


def train_quality_tokenizer(vocab_size: int = 2048, n_samples: int = 20000, seed: int = 0,
                            extra_categories: Sequence[str] = ()) -> Tokenizer:
    """Train the tiny model's byte-level BPE on :func:`quality_corpus` (deterministic for a seed).

    ``extra_categories`` adds categories newer than the first release to the corpus (see
    :func:`quality_corpus`); without it their words are split into the pieces the corpus did learn.

    ``vocab_size`` counts everything: the 256 bytes, learned merges and the five special tokens, which
    take the last ids in :data:`QUALITY_SPECIAL_TOKENS` order. It is an upper bound: a small corpus
    may run out of merges first. The five level words with a leading space are single tokens.
    """
    n_special = len(QUALITY_SPECIAL_TOKENS)
    if vocab_size < 256 + n_special + 40:
        raise ValueError(f"vocab_size must be at least {256 + n_special + 40}, got {vocab_size}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    corpus = list(quality_corpus(n_samples, seed, extra_categories))
    level_words = [" " + w for w in LEVELS]
    model_size = vocab_size - n_special
    tok = _train_bpe(corpus, model_size)
    shrink = 0
    # Rare (tiny vocabularies or corpora): the level words need merges the trainer did not learn.
    # Retrain smaller to leave room for them, so the size bound holds; each round shrinks further.
    while tok.get_vocab_size() > model_size or _missing_merges(tok, level_words):
        shrink += max(1, _missing_merges(tok, level_words), tok.get_vocab_size() - model_size)
        if model_size - shrink < 256:
            raise RuntimeError("cannot make the level words single tokens within vocab_size")
        tok = _force_single_tokens(_train_bpe(corpus, model_size - shrink), level_words)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QUALITY_SPECIAL_TOKENS])
    return Tokenizer(tok, source="quality tokenizer")
