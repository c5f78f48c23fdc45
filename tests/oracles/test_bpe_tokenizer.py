"""bpe_tokenizer vs the huggingface/tokenizers BpeTrainer (byte-level, one word per text).

tokenizers numbers the 256 bytes in its byte-level alphabet's order, which is byte order for
printable bytes only; the texts here use printable ASCII, where both tie rules agree (the kata's
"Ties" note says so). Repetitive texts over a few letters make many ties and overlapping pairs.
"""

import json

import pytest
import torch

CASES = 120
ALPHABETS = ("ab", "abc", "xyz!", "aAbB0", "hello world".replace(" ", "_"))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (the alphabet of tokenizers' ByteLevel)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return chars


def _hf_train(text: str, vocab_size: int):
    """tokenizers' merges in the kata's ids, and a function encoding text to the kata's ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer=trainer)
    char_to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    ids = {bytes([b]): b for b in range(256)}  # the kata's ids: bytes, then 256 + rank
    merges = []
    for left, right in json.loads(tokenizer.to_str())["model"]["merges"]:
        pieces = [bytes(char_to_byte[c] for c in part) for part in (left, right)]
        merges.append((ids[pieces[0]], ids[pieces[1]]))
        ids[pieces[0] + pieces[1]] = 256 + len(merges) - 1

    def encode(text: str) -> list[int]:
        tokens = tokenizer.encode(text).tokens
        return [ids[bytes(char_to_byte[c] for c in token)] for token in tokens]

    return merges, encode


def test_merges_and_encodings_match_tokenizers(ref, oracle):
    pytest.importorskip("tokenizers")
    oracle.uses("tokenizers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        alphabet = ALPHABETS[seed % len(ALPHABETS)]
        length = int(torch.randint(1, 60, (), generator=g))
        picks = torch.randint(0, len(alphabet), (length,), generator=g).tolist()
        text = "".join(alphabet[i] for i in picks)
        vocab_size = 256 + int(torch.randint(0, 20, (), generator=g))
        merges = ref.train_bpe(text, vocab_size)
        hf_merges, hf_encode = _hf_train(text, vocab_size)
        oracle.equal(merges, hf_merges, what=f"merges for {text!r}")
        probe = text[::-1] + alphabet  # encode other text with the same merges
        oracle.equal(ref.encode(probe, merges), hf_encode(probe), what=f"encode({probe!r})")
