#!/usr/bin/env python3
"""Golden-fixture generator for localrag's SmolLM2-135M-Instruct (GGUF) chat model.

A self-contained reference for the Rust LLM path, built from nothing but the
GGUF file: numpy, the `gguf` package (to read the container and dequantize
Q4_1 / Q8_0 blocks) and the `regex` package (for \\p{L} / \\p{N} in the
pre-tokenizer). It deliberately does NOT use the `tokenizers` library: the Rust
side uses the Rust `tokenizers` crate, and the point of these fixtures is an
independent check of it.

It writes two files (default directory tests/fixtures):

  llm_tokenizer.json  {"cases": [{"text": ..., "ids": [...]}, ...]}
      Over 300 varied strings tokenized by the pure-Python byte-level BPE
      below (no BOS: tokenizer.ggml.add_bos_token is false). When it was
      written, the ids were also compared once, outside this script, with a
      Python `tokenizers` BPE built from the same GGUF vocab/merges and the
      same pre-tokenizers: all cases agreed.

  llm_golden.json     {"model_sha256": ..., "tolerance_note": ..., "cases": [...]}
      Eight chat prompts. For each: the messages, the ChatML-templated prompt,
      its ids, the top-5 logits at the first generated position, 32 greedy
      ids with the top1 - top2 logit margin at every step, and the decoded
      greedy text. The forward pass is a float64 numpy transcription of the
      Hugging Face Llama (rotate_half RoPE) on the dequantized GGUF weights.

Usage:
    python3 tests/reference/make_llm_golden.py \\
        [--gguf www/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] \\
        [--out-dir tests/fixtures]

Besides writing the fixtures it prints two self-checks of the RoPE layout
(see `check_rope_layouts`): llama.cpp's converter permutes the rows of
attn_q / attn_k, so "interleaved pairs on the raw GGUF weights" must equal
"rotate_half on the un-permuted weights" (the equivalence the Rust side relies
on), while "rotate_half on the raw weights" must not.
"""

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import regex
from gguf import GGUFReader
from gguf.quants import dequantize

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_GGUF = os.path.join(REPO_ROOT, "www", "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT_DIR = os.path.join(REPO_ROOT, "tests", "fixtures")

N_GREEDY = 32          # greedy steps recorded per prompt
MIN_MARGIN = 0.05      # every greedy step must win by at least this much (logits)
TOKEN_TYPE_CONTROL = 3  # llama.cpp LLAMA_TOKEN_TYPE_CONTROL


# ==========================================================================
# GGUF access
# ==========================================================================

def field(reader, key):
    """Value of a GGUF metadata key (scalars, strings and arrays)."""
    return reader.fields[key].contents()


def tensor(reader, name):
    """Dequantized tensor as float64, in PyTorch layout.

    GGUF lists shapes ne0-first: a weight shown as [576, 1536] is stored
    row-major as 1536 rows of 576 values, i.e. the PyTorch [out, in] matrix.
    gguf.quants.dequantize already returns that row-major [rows, cols] array.
    """
    t = next(t for t in reader.tensors if t.name == name)
    w = dequantize(t.data, t.tensor_type)
    assert tuple(w.shape) == tuple(int(d) for d in reversed(t.shape)), (name, w.shape, t.shape)
    return np.ascontiguousarray(w, dtype=np.float64)


# ==========================================================================
# Tokenizer: byte-level BPE ("gpt2" model, "smollm" pre-tokenizer)
# ==========================================================================

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table.

    Printable Latin-1 bytes map to themselves; the remaining 68 bytes (controls,
    space, 0x7F-0xA0, 0xAD) map, in byte order, to U+0100, U+0101, ...
    (so b' ' -> 'Ġ' U+0120 and b'\\n' -> 'Ċ' U+010A).
    """
    keep = (list(range(ord("!"), ord("~") + 1))
            + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


# The GPT-2 pre-tokenizer regex used by HF's ByteLevel(use_regex=True).
# Contractions are lower case only ("'S" is punctuation + letters).
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

# HF's Digits(individual_digits=True) isolates every char for which Rust's
# char::is_numeric() holds, i.e. general categories Nd, Nl, No (= \p{N}).
DIGIT = regex.compile(r"\p{N}")


class BpeTokenizer:
    def __init__(self, reader):
        assert field(reader, "tokenizer.ggml.model") == "gpt2"
        assert field(reader, "tokenizer.ggml.pre") == "smollm"
        assert field(reader, "tokenizer.ggml.add_bos_token") is False
        self.tokens = list(field(reader, "tokenizer.ggml.tokens"))
        types = list(field(reader, "tokenizer.ggml.token_type"))
        merges = list(field(reader, "tokenizer.ggml.merges"))
        assert len(self.tokens) == len(types)

        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.vocab) == len(self.tokens), "duplicate token strings"
        # Merge "a b" has rank = its index; lower rank merges first.
        self.ranks = {}
        for rank, m in enumerate(merges):
            a, b = m.split(" ")
            self.ranks[(a, b)] = rank
        # Special (CONTROL) tokens are matched literally in the raw text,
        # leftmost first and, at one position, longest first.
        self.specials = sorted((t for t, ty in zip(self.tokens, types) if ty == TOKEN_TYPE_CONTROL),
                               key=len, reverse=True)
        self.byte_enc = bytes_to_unicode()
        self.byte_dec = {c: b for b, c in self.byte_enc.items()}
        # Bytes without a single-byte token. In this vocabulary: the ASCII
        # controls 0x04 0x06 0x13 0x14 0x16 0x1D, the UTF-8 lead bytes 0xF1 0xF2
        # (code points U+40000..U+BFFFF, all unassigned) and 0xC0 0xC1
        # 0xF5-0xFF (never in UTF-8). HF's BPE without an unk token silently
        # drops such bytes (so does llama.cpp); we refuse them instead, and the
        # test strings avoid them (every case must round-trip through decode).
        self.missing_bytes = sorted(b for b, c in self.byte_enc.items() if c not in self.vocab)
        self.cache = {}

    # ---- encoding ---------------------------------------------------------

    def split_specials(self, text):
        """[(piece, is_special)] with special tokens cut out of the text."""
        out, start, i = [], 0, 0
        while i < len(text):
            hit = next((s for s in self.specials if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            if start < i:
                out.append((text[start:i], False))
            out.append((hit, True))
            i += len(hit)
            start = i
        if start < len(text):
            out.append((text[start:], False))
        return out

    @staticmethod
    def pre_tokenize(text):
        """Digits(individual_digits=True), then the GPT-2 regex on each part."""
        words = []
        parts, last = [], 0
        for m in DIGIT.finditer(text):
            if last < m.start():
                parts.append(text[last:m.start()])
            parts.append(m.group())
            last = m.end()
        if last < len(text):
            parts.append(text[last:])
        for part in parts:
            found = GPT2_PATTERN.findall(part)
            assert "".join(found) == part, "the regex must cover the whole input"
            words.extend(found)
        return words

    def bpe(self, word):
        """Apply merges by rank to one pre-tokenized word (already byte-mapped)."""
        if word in self.cache:
            return self.cache[word]
        syms = list(word)
        while len(syms) > 1:
            best, best_rank = None, None
            for j in range(len(syms) - 1):
                r = self.ranks.get((syms[j], syms[j + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = j, r
            if best is None:
                break
            # Merge every occurrence of this pair, left to right (non-overlapping).
            a, b = syms[best], syms[best + 1]
            merged, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == a and syms[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(syms[j])
                    j += 1
            syms = merged
        ids = [self.vocab[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece, special in self.split_specials(text):
            if special:
                ids.append(self.vocab[piece])
                continue
            for word in self.pre_tokenize(piece):
                raw = word.encode("utf-8")
                bad = sorted(set(raw) & set(self.missing_bytes))
                if bad:
                    raise ValueError(f"{word!r}: bytes {bad} have no token")
                mapped = "".join(self.byte_enc[b] for b in raw)
                ids.extend(self.bpe(mapped))
        return ids

    # ---- decoding ---------------------------------------------------------

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in self.specials:
                out += t.encode("utf-8")
            else:
                out += bytes(self.byte_dec[c] for c in t)
        return out.decode("utf-8", errors="replace")


# ==========================================================================
# Tokenizer test strings
# ==========================================================================

SPECIAL_CASES = [
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\nHello!<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text before<|im_end|>text after",
    "space before <|im_end|> space after",
    "<|im_start|><|im_end|><|endoftext|>",
    "<|im_start|>assistant\n",
    "The end.<|endoftext|>",
    "<|endoftext|>Once upon a time",
    "nested <|im_<|im_end|>start|> fragments",
    "almost special: <|im_start|  <im_end|> <|endoftext| |>",
    "<|IM_START|> is not special (case matters)",
    "\n<|im_end|>\n\n<|im_start|>\n",
    "<filename>main.rs<file_sep><repo_name>localrag<gh_stars>100",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
]

ENGLISH = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval-augmented generation combines search with a language model.",
    "What is the capital of France?",
    "I have 3 apples and 12 oranges.",
    "Please summarize the following passage in one sentence.",
    "According to passage [1], the tower was completed in 1889 [2].",
    "She sells sea shells by the sea shore.",
    "A journey of a thousand miles begins with a single step.",
    "It was the best of times, it was the worst of times.",
    "THIS IS ALL UPPER CASE TEXT.",
    "this is all lower case text",
    "MiXeD CaSe WoRdS aNd camelCaseIdentifiers",
    "Hyphenated-words and well-known state-of-the-art results.",
    "e.g. i.e. etc. Mr. Smith vs. Dr. Jones",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The model runs entirely inside a web page using WebGPU.",
    "Why? Because we can!",
    "a",
    "I",
    "",
    "Q: What's the answer? A: 42.",
    "  The indented sentence.",
    "Answer: Paris is the capital of France.",
    "Hugging Face, SmolLM2 and llama.cpp are all mentioned here.",
]

CODE = [
    "fn main() {\n    println!(\"Hello, world!\");\n}\n",
    "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}",
    "impl<T: Clone> Vec<T> {\n\tfn first(&self) -> Option<&T> { self.get(0) }\n}",
    "let v: Vec<u8> = vec![0x00, 0xff, 0x7f];\nassert_eq!(v.len(), 3);",
    "#[derive(Debug, Clone)]\nstruct Point { x: f64, y: f64 }",
    "match x {\n    Some(n) if n > 10 => \"big\",\n    Some(_) => \"small\",\n    None => \"none\",\n}",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "class Foo:\n    def __init__(self):\n        self.x = [i ** 2 for i in range(10)]\n",
    "if __name__ == \"__main__\":\n\tmain()\n",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\n",
    "    # comment with trailing spaces    \n",
    "lambda x: x if x else None  # noqa: E731",
    "function add(a, b) {\n  return a + b;\n}\n",
    "const xs = [1, 2, 3].map((x) => x * 2);\nconsole.log(`${xs}`);",
    "async function f() { await fetch('/api?q=1'); }",
    "if (a === b && c !== d || !e) { return; }",
    "<div class=\"card\"><p>Hello &amp; welcome</p></div>",
    "SELECT id, title FROM docs WHERE score >= 0.5 ORDER BY score DESC;",
    '{"name": "localrag", "version": "0.1.0", "deps": {"burn": "0.22"}}',
    "x+=1; y-=2; z*=3; w/=4; a<<=1; b>>=2; c**=2",
    "\t\tdeeply\n\t\t\tindented\n\t\ttabs",
    "        eight spaces\n            twelve spaces\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "cargo build --release --target wasm32-unknown-unknown",
    "$ ls -la | grep '.rs$' > out.txt 2>&1",
]

NUMBERS = [
    "0", "7", "42", "123", "2024", "1234567890", "3.14159", "-42", "+1", "1,000,000",
    "1e-12", "0x1F", "0b1010", "10:30pm", "2024-03-15", "v2.0.1-beta.3", "CVE-2023-12345",
    "$19.99", "50%", "1/2", "x²+y²=z²", "½ cup, ¼ tsp", "Ⅻ o'clock", "１２３ full-width",
    "٠١٢٣ Arabic-Indic", "abc123def", "word 123 word", "phone: +1 (555) 123-4567",
    "99 bottles", "007", "   12   ", "1\n2\n3",
]

CJK = [
    "我喜欢吃苹果和香蕉。",
    "猫はマットの上に座っています。",
    "東京タワーは333メートルです。",
    "고양이가 매트 위에 앉아 있습니다.",
    "中文，English，日本語が混ざっています。",
    "你好，世界！",
    "ｶﾀｶﾅ half-width katakana",
    "「引用」と『二重引用』",
    "漢字",
    "一二三四五六七八九十",
]

EMOJI = [
    "👍",
    "I love pizza 🍕🍕🍕!",
    "Family: 👨‍👩‍👧‍👦",
    "👩‍💻 coding, 🧑‍🚀 space",
    "Flags: 🇫🇷🇩🇪🇯🇵🇺🇸",
    "Rainbow flag 🏳️‍🌈 and pirate 🏴‍☠️",
    "England 🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F (tag characters)",
    "Skin tones 👋🏻👋🏽👋🏿",
    "Keycaps 1️⃣ 2️⃣ #️⃣",
    "😀😃😄😁😆😅😂🤣",
    "❤️ vs ❤ vs ♥",
    "emoji🎉inside🎉words",
    "🤖: Hello, human! 👋",
]

ACCENTED = [
    "café, naïve, résumé, crème brûlée",
    "Où est la bibliothèque ? Déjà vu.",
    "Die Straße ist über die Brücke gesperrt. Grüße aus München!",
    "El niño comió piñas en Año Nuevo.",
    "Ångström, Øresund, Æsir, Łódź, Škoda, İstanbul",
    "Tiếng Việt có nhiều dấu: ă â đ ê ô ơ ư",
    "São Paulo e Brasília",
    "Ça va? Très bien, merci!",
    "Zürich Genève Fribourg",
    "decomposed e\u0301 vs composed \u00e9",
    "Привет, как дела?",
    "Γειά σου Κόσμε",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีครับ",
    "שלום עולם",
]

WHITESPACE = [
    " ", "  ", "   ", "\n", "\n\n", "\n\n\n", "\t", "\t\t", "\r\n", " \n ",
    "hello world", "hello  world", "hello   world", "hello    world",
    " leading space", "  two leading spaces", "trailing space ", "trailing spaces   ",
    "line one\nline two", "line one\n\nline two", "line one\n\n\nline two",
    "para one.\n\nPara two.\n", "tab\tseparated\tvalues", "mixed \t \n whitespace",
    "word\n word", "word \nword", "word\n\n  word", "end with newline\n",
    "\nstarts with newline", "non\u00a0breaking\u00a0space", "ideographic\u3000space",
    "windows\r\nline\r\nendings", "many      spaces      between",
]

CONTRACTIONS = [
    "it's", "don't", "you're", "we've", "I'm", "they'll", "he'd",
    "IT'S", "DON'T", "YOU'RE", "WE'VE", "I'M", "THEY'LL", "HE'D",
    "It's John's book, isn't it? We'll see, they'd say, I'm sure you've heard.",
    "The cat's toy", "'s at start", "rock 'n' roll", "'tis the season", "o'clock",
    "We'LL see", "Don’t (curly apostrophe)", "y'all'd've", "''s", "ma'am",
]

PUNCT = [
    "!!!", "???", "...", "?!?!", "!!! ??? ... ;;; :::", "---", "***", "###",
    "@#$%^&*()_+-=~`|\\/<>", "(yes) [maybe] {never} <ok>", "\"quoted\" 'single' `back`",
    "a, b; c: d. e! f?", "—em dash– en dash", "«guillemets» „low quotes“",
    "…ellipsis char", "....................", "==>", "<=>", "::", "//", "/* */",
    "\\n is not a newline", "hello!!!world???", " !", " ...",
]

URLS = [
    "https://example.com",
    "Visit https://example.com/path?query=1&lang=en#section for details.",
    "http://localhost:8080/api/v1/items?id=42",
    "ftp://files.example.org/pub/file.tar.gz",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "www.example.co.uk",
    "Send an email to jane.doe+rag@example.org.",
    "git@github.com:owner/repo.git",
    "file:///home/user/docs/report.pdf",
    "https://en.wikipedia.org/wiki/Caf%C3%A9",
]

# Fragments for the seeded mixed strings (exercise interactions between pieces).
_FRAGMENTS = [
    "the", " The", "cat", " dog", "'s", "'t", "'re", "'ll", "'S", " ", "  ", "   ", "\n", "\n\n",
    "\t", "2", "19", "3.5", "2024", "!", "?!", "...", "(", ")", "[1]", "{", "}", ";", ":", "/",
    "é", "ü", "ñ", "猫", "東京", "👍", "🇯🇵", "👨‍👩‍👧", "Ω", "π", "x²", "_", "-", "=>",
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "fn", "def", "return", "https://a.b/c",
    "RAG", "WebGPU", "ABC", "xyz", "Hello", " world", "0",
]


def generated_cases():
    """Deterministic extra strings: seeded fragment mixes and systematic numbers."""
    rng = random.Random(20240501)
    out = []
    for _ in range(60):
        n = rng.randint(2, 12)
        out.append("".join(rng.choice(_FRAGMENTS) for _ in range(n)))
    for n in range(1, 9):                      # runs of spaces before a word
        out.append(" " * n + "word")
    for n in range(1, 6):                      # runs of newlines between words
        out.append("a" + "\n" * n + "b")
    for k in range(1, 13):                     # multi-digit numbers, with a space
        out.append("n = " + "".join(str((k * 7 + j * 3) % 10) for j in range(k)))
    return out


def tokenizer_texts():
    texts = (SPECIAL_CASES + ENGLISH + CODE + NUMBERS + CJK + EMOJI + ACCENTED + WHITESPACE
             + CONTRACTIONS + PUNCT + URLS + generated_cases())
    seen, unique = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


# ==========================================================================
# Chat prompts
# ==========================================================================

RAG_SYSTEM = (
    "Answer using only the passages below. After each fact, cite its passage number in "
    "square brackets, for example [1] or [2].\n\nPassages:\n"
    "[1] The Eiffel Tower in Paris was completed in 1889 as the entrance arch to the "
    "World's Fair. It is 330 metres tall.\n"
    "[2] The Statue of Liberty was dedicated in 1886 on Liberty Island in New York Harbor. "
    "It was a gift from the people of France."
)

# Chosen so that every one of the 32 greedy steps wins by >= MIN_MARGIN and no
# answer ends (<|im_end|>) within them. Candidates that failed this and were
# replaced: "What is the capital of France, and what is it famous for?" (margin
# 0.042), "Write a Python function that checks whether a number is even." (0.022),
# "List five fruits that are rich in vitamin C." (0.007), "What is 12 times 7?
# Explain your reasoning step by step." (0.015), "What is a crème brûlée?" (0.005),
# and a summary request whose answer ended after 27 tokens.
PROMPTS = [
    # factual question
    [{"role": "user", "content": "What is the capital of Italy, and what is it famous for?"}],
    # tiny coding request
    [{"role": "user", "content": "Write a Python function that sums a list of numbers."}],
    # list request
    [{"role": "user", "content": "Give me a list of five common vegetables."}],
    # RAG-style prompt: system message with numbered passages, asks for [n] citations
    [{"role": "system", "content": RAG_SYSTEM},
     {"role": "user", "content": "Using the passages, tell me about the Eiffel Tower and the "
                                 "Statue of Liberty. Cite each passage as [n]."}],
    # greeting
    [{"role": "user", "content": "Hello! Who are you and what can you help me with?"}],
    # math question
    [{"role": "user", "content": "What is 25% of 80?"}],
    # short summarise request
    [{"role": "user", "content":
      "Please summarize: The Industrial Revolution began in Britain in the late 18th century. "
      "New machines, powered first by water and then by steam, transformed the production of "
      "textiles, iron and other goods, and people moved from farms to growing cities."}],
    # question with a non-ASCII word
    [{"role": "user", "content": "Where is São Paulo?"}],
]


def default_system_prompt(template):
    """The default system block, taken verbatim out of tokenizer.chat_template."""
    # The Jinja string literal holds a real newline after "system" (the GGUF
    # stores the template JSON-decoded, so there are no "\\n" escapes left).
    start = "'<|im_start|>system\n"
    i = template.index(start) + len(start)
    j = template.index("<|im_end|>", i)
    return template[i:j]


def apply_chat_template(messages, default_system):
    """ChatML as in the GGUF's template, with add_generation_prompt=True."""
    out = ""
    if messages[0]["role"] != "system":
        out += f"<|im_start|>system\n{default_system}<|im_end|>\n"
    for m in messages:
        out += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return out + "<|im_start|>assistant\n"


# ==========================================================================
# Model: Hugging Face Llama in numpy
# ==========================================================================

def permute_like_llama_cpp(w, n_head):
    """What llama.cpp's convert_hf_to_gguf does to q_proj / k_proj rows."""
    out, inp = w.shape
    return w.reshape(n_head, 2, out // n_head // 2, inp).swapaxes(1, 2).reshape(out, inp)


def unpermute(w, n_head):
    """Inverse of permute_like_llama_cpp: GGUF rows back to Hugging Face order.

    Within each head, GGUF row 2*j + s holds HF row s*half + j (s in {0, 1}),
    so the rotate_half pair (j, j + half) became the adjacent pair (2j, 2j+1).
    """
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def rope_rotate_half(x, cos, sin):
    """HF apply_rotary_pos_emb: pairs (i, i + d/2). x: [heads, T, d]; cos/sin: [T, d/2]."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def rope_interleaved(x, cos, sin):
    """GPT-J / llama.cpp "normal" layout: pairs (2i, 2i + 1)."""
    xe, xo = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = xe * cos - xo * sin
    out[..., 1::2] = xe * sin + xo * cos
    return out


class Llama:
    """Decoder-only Llama with a KV cache.

    rope: "hf"             - un-permuted q/k weights, rotate_half  (the reference)
          "interleaved_raw" - raw GGUF q/k weights, adjacent pairs (what Rust does)
          "rotate_half_raw" - raw GGUF q/k weights, rotate_half    (wrong on purpose)
    """

    def __init__(self, reader, rope="hf", dtype=np.float64):
        assert field(reader, "general.architecture") == "llama"
        self.n_layer = int(field(reader, "llama.block_count"))
        self.d_model = int(field(reader, "llama.embedding_length"))
        self.n_head = int(field(reader, "llama.attention.head_count"))
        self.n_kv = int(field(reader, "llama.attention.head_count_kv"))
        self.head_dim = self.d_model // self.n_head
        self.eps = float(field(reader, "llama.attention.layer_norm_rms_epsilon"))
        self.base = float(field(reader, "llama.rope.freq_base"))
        assert int(field(reader, "llama.rope.dimension_count")) == self.head_dim
        self.rope = rope
        self.dtype = dtype
        # theta_i = base^(-2i/d), i = 0 .. d/2 - 1
        self.inv_freq = self.base ** (-np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)

        names = {t.name for t in reader.tensors}
        assert "output.weight" not in names, "expected tied embeddings"
        self.embd = tensor(reader, "token_embd.weight").astype(dtype)   # [vocab, d]
        self.out_norm = tensor(reader, "output_norm.weight").astype(dtype)
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            wq = tensor(reader, p + "attn_q.weight")
            wk = tensor(reader, p + "attn_k.weight")
            if rope == "hf":
                wq, wk = unpermute(wq, self.n_head), unpermute(wk, self.n_kv)
            layer = {
                "attn_norm": tensor(reader, p + "attn_norm.weight"),
                "q": wq, "k": wk,
                "v": tensor(reader, p + "attn_v.weight"),
                "o": tensor(reader, p + "attn_output.weight"),
                "ffn_norm": tensor(reader, p + "ffn_norm.weight"),
                "gate": tensor(reader, p + "ffn_gate.weight"),
                "up": tensor(reader, p + "ffn_up.weight"),
                "down": tensor(reader, p + "ffn_down.weight"),
            }
            self.layers.append({k: v.astype(dtype) for k, v in layer.items()})
        assert self.layers[0]["q"].shape == (self.n_head * self.head_dim, self.d_model)
        assert self.layers[0]["k"].shape == (self.n_kv * self.head_dim, self.d_model)
        assert self.layers[0]["gate"].shape[1] == self.d_model

    def new_cache(self):
        empty = np.zeros((self.n_kv, 0, self.head_dim), dtype=self.dtype)
        return [[empty, empty] for _ in range(self.n_layer)]

    def forward(self, ids, cache):
        """Run the tokens `ids` after those already in `cache`; return logits [T, vocab]."""
        T, d, hd = len(ids), self.d_model, self.head_dim
        past = cache[0][0].shape[1]
        pos = np.arange(past, past + T, dtype=np.float64)
        ang = pos[:, None] * self.inv_freq[None, :]                 # [T, hd/2]
        cos, sin = np.cos(ang).astype(self.dtype), np.sin(ang).astype(self.dtype)
        rope = rope_interleaved if self.rope == "interleaved_raw" else rope_rotate_half
        # causal mask over [past + T] keys for the T new queries
        key_pos = np.arange(past + T)
        masked = key_pos[None, :] > pos[:, None]                      # [T, past+T]
        group = self.n_head // self.n_kv
        scale = 1.0 / math.sqrt(hd)

        x = self.embd[np.asarray(ids)]                                # [T, d]
        for L, c in zip(self.layers, cache):
            h = rms_norm(x, L["attn_norm"], self.eps)
            q = (h @ L["q"].T).reshape(T, self.n_head, hd).transpose(1, 0, 2)
            k = (h @ L["k"].T).reshape(T, self.n_kv, hd).transpose(1, 0, 2)
            v = (h @ L["v"].T).reshape(T, self.n_kv, hd).transpose(1, 0, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            c[0] = np.concatenate([c[0], k], axis=1)
            c[1] = np.concatenate([c[1], v], axis=1)
            # grouped-query attention: query head j reads kv head j // group
            kk = np.repeat(c[0], group, axis=0)                       # [n_head, S, hd]
            vv = np.repeat(c[1], group, axis=0)
            scores = (q @ kk.transpose(0, 2, 1)) * scale              # [n_head, T, S]
            scores = np.where(masked[None], -np.inf, scores)
            ctx = (softmax(scores) @ vv).transpose(1, 0, 2).reshape(T, d)
            x = x + ctx @ L["o"].T
            h = rms_norm(x, L["ffn_norm"], self.eps)
            x = x + (silu(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
        x = rms_norm(x, self.out_norm, self.eps)
        return x @ self.embd.T                                         # tied lm head

    def greedy(self, prompt_ids, n):
        """First-position logits, n greedy ids, and the top1 - top2 margin at each step."""
        cache = self.new_cache()
        logits = self.forward(prompt_ids, cache)[-1]
        first = logits.copy()
        ids, margins = [], []
        for step in range(n):
            top2 = np.argsort(-logits, kind="stable")[:2]
            ids.append(int(top2[0]))
            margins.append(float(logits[top2[0]] - logits[top2[1]]))
            if step + 1 < n:
                logits = self.forward([ids[-1]], cache)[-1]
        return first, ids, margins


def top_k(logits, k):
    order = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i])] for i in order]


# ==========================================================================
# Self-checks
# ==========================================================================

def check_permutation_roundtrip():
    w = np.arange(576 * 7, dtype=np.float64).reshape(576, 7)
    assert np.array_equal(unpermute(permute_like_llama_cpp(w, 9), 9), w)
    w = np.arange(192 * 5, dtype=np.float64).reshape(192, 5)
    assert np.array_equal(unpermute(permute_like_llama_cpp(w, 3), 3), w)


def check_rope_layouts(reader, tok, prompts_ids, reference):
    """Compare the reference against the two raw-weight RoPE variants.

    reference: list of (first_logits, greedy_ids) from the "hf" model.
    Returns a dict of the printed numbers.
    """
    results = {}
    for variant in ("interleaved_raw", "rotate_half_raw"):
        model = Llama(reader, rope=variant)
        max_diff, same_greedy, texts = 0.0, 0, []
        for ids, (ref_logits, ref_greedy) in zip(prompts_ids, reference):
            logits, greedy, _ = model.greedy(ids, N_GREEDY)
            max_diff = max(max_diff, float(np.max(np.abs(logits - ref_logits))))
            same_greedy += greedy == ref_greedy
            texts.append(tok.decode(greedy))
        results[variant] = (max_diff, same_greedy, texts)
        print(f"[rope check] {variant}: max |logit - reference| at the first position = "
              f"{max_diff:.3e}; greedy identical for {same_greedy}/{len(reference)} prompts")
        if variant == "rotate_half_raw":
            for t in texts[:3]:
                print(f"    e.g. {t!r}")
    return results


def check_float32(reader, prompts_ids, reference):
    """How far a float32 evaluation of the same graph drifts (sizes the tolerance)."""
    model = Llama(reader, rope="hf", dtype=np.float32)
    max_diff, same = 0.0, 0
    for ids, (ref_logits, ref_greedy) in zip(prompts_ids, reference):
        logits, greedy, _ = model.greedy(ids, N_GREEDY)
        max_diff = max(max_diff, float(np.max(np.abs(logits.astype(np.float64) - ref_logits))))
        same += greedy == ref_greedy
    print(f"[f32 check] float32 numpy vs float64: max |logit diff| at the first position = "
          f"{max_diff:.3e}; greedy identical for {same}/{len(reference)} prompts")
    return max_diff


# ==========================================================================
# Output
# ==========================================================================

def write_json_lines(path, head, key, items):
    """JSON with one list item per line, for readable diffs."""
    first = json.dumps(head, ensure_ascii=False)
    first = (first[:-1] + ", " if head else "{") + json.dumps(key) + ": ["
    lines = [first]
    for i, c in enumerate(items):
        sep = "," if i + 1 < len(items) else ""
        lines.append(json.dumps(c, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == dict(head, **{key: items})
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path} ({len(text.encode('utf-8'))} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--out-dir", default=DEFAULT_OUT_DIR)
    args = ap.parse_args()
    t0 = time.time()

    with open(args.gguf, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    reader = GGUFReader(args.gguf)
    template = field(reader, "tokenizer.chat_template")
    print("chat template:", template)
    default_system = default_system_prompt(template)
    print(f"default system prompt: {default_system!r}")
    check_permutation_roundtrip()

    # ---- tokenizer fixture -------------------------------------------------
    tok = BpeTokenizer(reader)
    texts = tokenizer_texts()
    cases = []
    for text in texts:
        ids = tok.encode(text)
        assert tok.decode(ids) == text, ("round trip", text)
        cases.append({"text": text, "ids": ids})
    assert len(cases) >= 220, len(cases)
    for s in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert tok.encode(s) == [tok.vocab[s]]
    print(f"tokenizer: {len(cases)} cases, {sum(len(c['ids']) for c in cases)} ids "
          f"({time.time() - t0:.1f}s)")
    os.makedirs(args.out_dir, exist_ok=True)
    write_json_lines(os.path.join(args.out_dir, "llm_tokenizer.json"), {}, "cases", cases)

    # ---- model fixture -------------------------------------------------------
    model = Llama(reader, rope="hf")
    print(f"model loaded ({time.time() - t0:.1f}s)")
    eos = tok.vocab["<|im_end|>"]
    golden, prompts_ids, reference = [], [], []
    min_margin = (math.inf, None, None)
    for n, messages in enumerate(PROMPTS):
        prompt = apply_chat_template(messages, default_system)
        ids = tok.encode(prompt)
        first, greedy, margins = model.greedy(ids, N_GREEDY)
        text = tok.decode(greedy)
        low = min(margins)
        if low < min_margin[0]:
            min_margin = (low, n, margins.index(low))
        print(f"--- prompt {n}: {len(ids)} prompt ids, min margin {low:.4f} "
              f"at step {margins.index(low)}")
        print(f"    {text!r}")
        assert low >= MIN_MARGIN, f"prompt {n}: a greedy step has margin {low} < {MIN_MARGIN}"
        assert eos not in greedy, f"prompt {n}: the answer ends within {N_GREEDY} tokens"
        golden.append({
            "messages": messages,
            "prompt": prompt,
            "prompt_ids": ids,
            "top5": top_k(first, 5),
            "greedy": greedy,
            "margins": margins,
            "text": text,
        })
        prompts_ids.append(ids)
        reference.append((first, greedy))
    print(f"smallest margin: {min_margin[0]:.4f} (prompt {min_margin[1]}, step {min_margin[2]}) "
          f"({time.time() - t0:.1f}s)")

    rope = check_rope_layouts(reader, tok, prompts_ids, reference)
    assert rope["interleaved_raw"][0] < 1e-9 and rope["interleaved_raw"][1] == len(PROMPTS)
    assert rope["rotate_half_raw"][0] > 1e-2
    f32_diff = check_float32(reader, prompts_ids, reference)

    head = {
        "model": os.path.basename(args.gguf),
        "model_sha256": model_sha,
        "generator": "tests/reference/make_llm_golden.py",
        "n_greedy": N_GREEDY,
        "min_margin": min_margin[0],
        "tolerance_note": (
            "Logits come from a float64 numpy Llama (Hugging Face formulation, rotate_half RoPE "
            "on un-permuted q/k) over the exactly dequantized GGUF weights, so the only expected "
            "differences are float32 rounding in the implementation under test "
            f"(a float32 numpy run of the same graph differs by at most {f32_diff:.1e} in the "
            "first-position logits). Compare top5 logits with an absolute tolerance of about "
            "1e-2 (looser, e.g. 5e-2, for GPU kernels with other summation orders); greedy ids "
            f"must match exactly: every step wins by at least {MIN_MARGIN} logits "
            "(see margins and min_margin). Greedy decoding runs all n_greedy steps (no "
            "<|im_end|> occurs within them)."),
    }
    write_json_lines(os.path.join(args.out_dir, "llm_golden.json"), head, "cases", golden)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
