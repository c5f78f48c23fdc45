"""Benchmark: train the reference byte-level BPE on ~1 MB of generated text, then encode it.

Prints wall time, CPU time (on a busy machine wall time includes waiting for a core) and
throughput (MB/s of wall time, 1 MB = 10^6 bytes of UTF-8) for training and for encoding,
measured in one run, and the ratio of their CPU times. The text is generated from a fixed seed
(a Zipf-distributed lexicon of syllable words with some accented, CJK and emoji words), so
every run sees the same bytes; nothing is downloaded.

    python bench/bpe_tokenizer.py [--megabytes 1.0] [--vocab-size 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import time
from pathlib import Path

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "bpe_tokenizer.py"
SYLLABLES = ["ka", "to", "ri", "en", "the", "an", "mo", "sta", "in", "er", "qu", "li", "on",
             "de", "ve", "ch", "ing", "o", "a", "u", "s", "tr", "pl", "ex"]
SPECIAL_WORDS = ["café", "naïve", "über", "façade", "日本語", "東京", "Ελλάδα", "🙂", "€5"]


def generated_text(megabytes: float, seed: int = 0) -> str:
    """About `megabytes` MB of deterministic text: sentences of Zipf-distributed words."""
    rng = random.Random(seed)
    lexicon = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(3000)]
    for i, word in enumerate(SPECIAL_WORDS):  # spread over common and rare ranks
        lexicon[5 + 41 * i * i] = word
    weights = [1.0 / (rank + 1) for rank in range(len(lexicon))]
    target, size, sentences = int(megabytes * 1e6), 0, []
    while size < target:
        words = rng.choices(lexicon, weights, k=rng.randint(4, 16))
        ending = rng.choice([". ", ". ", ", ", "! ", "? ", ".\n"])
        sentence = " ".join(words).capitalize() + ending
        sentences.append(sentence)
        size += len(sentence.encode("utf-8"))
    return "".join(sentences)


def load_reference():
    spec = importlib.util.spec_from_file_location("bpe_tokenizer_reference", SOLUTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--vocab-size", type=int, default=512)
    args, _ = parser.parse_known_args()  # nox -s bench passes its arguments to every script

    bpe = load_reference()
    text = generated_text(args.megabytes)
    megabytes = len(text.encode("utf-8")) / 1e6

    start, cpu = time.perf_counter(), time.process_time()
    merges = bpe.train_bpe(text, args.vocab_size)
    train_s, train_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    ids = bpe.encode(text, merges)
    encode_s, encode_cpu = time.perf_counter() - start, time.process_time() - cpu
    if bpe.decode(ids, merges) != text:
        raise SystemExit("decode(encode(text)) != text: the reference is broken")

    print(f"bpe_tokenizer: {megabytes:.2f} MB of generated text, vocab_size {args.vocab_size} "
          f"({len(merges)} merges)")
    for name, wall, cpu in (("train", train_s, train_cpu), ("encode", encode_s, encode_cpu)):
        print(f"  {name:6} {wall:6.2f} s wall ({cpu:5.2f} s CPU)  {megabytes / wall:6.3f} MB/s")
    print(f"  {len(ids)} tokens, {megabytes * 1e6 / len(ids):.2f} bytes/token; training takes "
          f"{train_cpu / encode_cpu:.1f}x the CPU time of encoding")


if __name__ == "__main__":
    main()
