"""Text normalization and jieba tokenization shared by training, prediction and the bot.

`normalize` turns a raw WeChat message into the words a resident actually wrote: full-width
forms folded, quoted replies, @mentions, emoticon codes and links dropped, digits kept (building
and room numbers matter for the ticket). `tokenize` is what the model's vectorizer calls; it is a
named module-level function so that a saved Pipeline refers to it by name.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

import jieba

USERDICT = Path(__file__).parent / "data" / "userdict.txt"
# The 60,000 most frequent words of jieba 0.42.1's own dict.txt (MIT licence, see data/README.md).
# Cross-validation scored it level with the full 349,046-word dictionary, which takes five times
# as long to load and 60 MB more memory; the character n-grams cover the rarer words.
DICTIONARY = Path(__file__).parent / "data" / "jieba_top60k.txt"

# A quoted reply as WeChat renders it: 「name：quoted text」 then a dashed separator line.
_QUOTE = re.compile(r"「[^「」]{0,2000}」\s*\n?\s*(?:-\s*){3,}\n?", re.S)
# Quote block without separator, e.g. when a client strips it.
_QUOTE_BARE = re.compile(r"^\s*「[^「」]{0,2000}」\s*", re.S)
# WeChat emoticon codes: [捂脸] [Facepalm] [强]; also the /:xxx legacy codes.
_EMOTICON = re.compile(r"\[[\u4e00-\u9fff]{1,5}\]|\[[A-Za-z][A-Za-z ]{0,15}\]|/:[A-Za-z!@#$%^&*<>?.,'-]{1,8}")
_LINK = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？、]+", re.I)
# A mention ends at whitespace (WeChat inserts U+2005 after a picked mention) or at the end.
_MENTION = re.compile(r"@[^\s\u2005@]{1,20}(?:[\s\u2005]+|$)")
_SPACES = re.compile(r"[\s\u2005\u200b\u3000]+")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200c-\u200f\u2028-\u202e\ufeff]")
_NUMBER = re.compile(r"\d+(?:[.\-]\d+)*")
_TOKEN_CHARS = re.compile(r"[\w\u4e00-\u9fff]", re.U)


def fold_width(text: str) -> str:
    """Full-width ASCII forms and ideographic space to their half-width equivalents."""
    return unicodedata.normalize("NFKC", text)


def drop_quotes(text: str) -> str:
    text = _QUOTE.sub(" ", text)
    return _QUOTE_BARE.sub(" ", text)


def drop_mentions(text: str) -> str:
    """Remove @mentions, but never the whole message: "@网格员小李路灯坏了" keeps its words."""
    stripped = _MENTION.sub(" ", text)
    if stripped.strip() or not text.strip().startswith("@"):
        return stripped
    return text.replace("@", " ", 1)


def drop_emoticons(text: str) -> str:
    return _EMOTICON.sub(" ", text)


def drop_links(text: str) -> str:
    return _LINK.sub(" ", text)


def normalize(text: object) -> str:
    """The message as the classifier should read it; '' for anything that is not text."""
    if not isinstance(text, str):
        return ""
    text = _CONTROL.sub("", fold_width(text))
    text = drop_quotes(text)
    text = drop_links(text)
    text = drop_mentions(text)
    text = drop_emoticons(text)
    return _SPACES.sub(" ", text).strip().lower()


_tokenizer: jieba.Tokenizer | None = None
_lock = threading.Lock()


def get_tokenizer() -> jieba.Tokenizer:
    """The process-wide jieba tokenizer with the domain user dictionary, loaded once."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(60)
                tok = jieba.Tokenizer(str(DICTIONARY))
                tok.initialize()
                if USERDICT.exists():
                    tok.load_userdict(str(USERDICT))
                _tokenizer = tok
    return _tokenizer


def words(text: str) -> list[str]:
    """jieba words of already-normalized text, punctuation and spaces removed, numbers as '0'."""
    out = []
    # Room numbers like 12-3-502 would be cut into five tokens; as one "0" they carry the signal
    # "a place was named" without splitting the vocabulary.
    text = _NUMBER.sub(" 0 ", text)
    # HMM=False: jieba's HMM guesses words it does not know, at a fifth of its time; the character
    # n-grams already cover unknown words, and cross-validation scored both the same.
    for tok in get_tokenizer().lcut(text, HMM=False):
        if _NUMBER.fullmatch(tok):
            out.append("0")
        elif _TOKEN_CHARS.search(tok):
            out.append(tok)
    return out


def tokenize(text: str) -> list[str]:
    """Vectorizer tokenizer: normalized text to jieba words (the Pipeline normalizes first)."""
    return words(text)


def char_text(text: str) -> str:
    """Normalized text for character n-grams: digits folded so room numbers do not split the vocabulary."""
    return _NUMBER.sub("0", text)
