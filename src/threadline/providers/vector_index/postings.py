"""Keyword search over a store's chunks held in memory as an inverted index, ranked by BM25.

FTS5's BM25 scores every chunk that matches any query word, one row at a time, and on a store of
100k chunks a question of ordinary words matches most of them, which is slow.
Here each store's postings live in numpy arrays sorted by term (the chunks holding the term and
its count in each: 6 bytes a posting, one posting per distinct word of a chunk), so scoring a
term is a few vectorised operations over its postings (docs/benchmarks.md#file-search-speed).

Words are cut and stemmed like FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer did:
letters and digits (``_`` separates), lower-cased, accents dropped, Porter-stemmed. BM25 uses
FTS5's constants and formula (k1 1.2, b 0.75, idf ``log((N - n + 0.5) / (n + 0.5))``, at least
1e-6), with the store's own document counts and mean length. Past ``COMMON_TERMS_FROM`` chunks the
common-terms rule applies (Lucene's ``CommonTermsQuery``): words in more than ``COMMON_SHARE`` of
the chunks only score chunks that also hold a rarer query word; when every word is common, a chunk
must hold them all.

A file put is tokenised at once into a segment of its own; at the next search the segments added
and the files removed since are merged into the store's arrays (one stable sort, which merges
the already sorted runs), so the arrays are the only full copy of the postings."""

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import Stemmer

from threadline.providers.vector_index.base import Candidate

K1, B = 1.2, 0.75
COMMON_TERMS_FROM = 20_000
COMMON_SHARE = 0.25  # chosen on the dev split: 0.1 cost keyword recall, 0.25 none
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_TF = np.iinfo(np.uint16).max


class Tokenizer:
    """Text to stemmed terms. PyStemmer's stemmers are not thread-safe: one per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _stem(self, words: list[str]) -> list[str]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("porter")
        return stemmer.stemWords(words)  # type: ignore[no-any-return]

    def counts(self, text: str) -> tuple[dict[str, int], int]:
        """Each term's count in ``text``, and the number of words."""
        lowered = text.lower()
        words = Counter(_WORD.findall(lowered))
        unique = list(words)
        if not lowered.isascii():
            unique = [_fold(w) for w in unique]
        stems = self._stem(unique)
        counts: dict[str, int] = {}
        for stem, count in zip(stems, words.values(), strict=True):
            counts[stem] = counts.get(stem, 0) + count
        return counts, sum(words.values())

    def terms(self, words: Iterable[str]) -> list[str]:
        """Query words to distinct terms, in order."""
        found = [w for word in words for w in _WORD.findall(word.lower())]
        return list(dict.fromkeys(self._stem([_fold(w) for w in found])))


def _fold(word: str) -> str:
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(slots=True)
class Segment:
    """One file's postings, sorted by term then chunk."""

    lengths: npt.NDArray[np.int32]  # words per chunk, by chunk index
    terms: npt.NDArray[np.int32]
    chunks: npt.NDArray[np.int32]
    counts: npt.NDArray[np.uint16]


@dataclass(slots=True)
class _Packed:
    file_ids: list[str]
    row_file: npt.NDArray[np.int32]  # document (a chunk of the store) -> position in file_ids
    row_chunk: npt.NDArray[np.int32]
    lengths: npt.NDArray[np.int32]  # words per document
    norm: npt.NDArray[np.float32]  # BM25's length normalisation: k1 * (1 - b + b * dl / avgdl)
    starts: npt.NDArray[np.int64]  # term id -> its postings' range: starts[t]..starts[t + 1]
    documents: npt.NDArray[np.int32]  # postings, by term then document
    counts: npt.NDArray[np.uint16]

    def frequency(self, term: int | None) -> int:
        if term is None or term + 1 >= len(self.starts):
            return 0  # a term first seen after this pack has no postings in it
        return int(self.starts[term + 1] - self.starts[term])


class StorePostings:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._vocabulary: dict[str, int] = {}  # only grows: term ids stay valid across packs
        # The packed arrays are the only copy of the postings; changes since wait beside them
        # and are merged in at the next search.
        self._packed: _Packed | None = None
        self._packed_files: set[str] = set()
        self._added: dict[str, Segment] = {}
        self._removed: set[str] = set()
        self._lock = threading.Lock()

    def put(self, file_id: str, chunks: Sequence[str]) -> None:
        """Index a file's chunks (replacing what it had); CPU-bound: call it off the event loop."""
        counted = [self._tokenizer.counts(text) for text in chunks]
        lengths = np.array([words for _, words in counted], dtype=np.int32)
        per_chunk = np.array([len(counts) for counts, _ in counted], dtype=np.int64)
        tf = [c for counts, _ in counted for c in counts.values()]
        with self._lock:
            vocabulary = self._vocabulary
            ids = [vocabulary.setdefault(t, len(vocabulary)) for c, _ in counted for t in c]
            terms = np.array(ids, dtype=np.int32)
            chunk_of = np.repeat(np.arange(len(chunks), dtype=np.int32), per_chunk)
            order = np.lexsort((chunk_of, terms))
            counts = np.minimum(np.array(tf, dtype=np.int64), _MAX_TF).astype(np.uint16)
            self._added[file_id] = Segment(lengths, terms[order], chunk_of[order], counts[order])
            if file_id in self._packed_files:
                self._removed.add(file_id)

    def remove(self, file_id: str) -> None:
        with self._lock:
            self._added.pop(file_id, None)
            if file_id in self._packed_files:
                self._removed.add(file_id)

    def search(
        self,
        store_id: str,
        words: Sequence[str],
        limit: int,
        allowed: Callable[[str], bool] | None = None,
    ) -> list[Candidate]:
        """The ``limit`` best chunks for ``words`` (plain words, stemmed here), best first."""
        packed = self._pack()
        terms = self._tokenizer.terms(words)
        total = len(packed.row_file)
        if not total or not terms or limit <= 0:
            return []
        ids = [self._vocabulary.get(t) for t in terms]
        frequencies = [packed.frequency(i) for i in ids]
        scoring = [(i, f) for i, f in zip(ids, frequencies, strict=True) if i is not None and f]
        required: npt.NDArray[np.bool_] | None = None  # documents that may match at all
        if total >= COMMON_TERMS_FROM and len(terms) > 1:
            rare = [i for i, f in zip(ids, frequencies, strict=True) if f <= COMMON_SHARE * total]
            if not rare:  # every word common: a chunk must hold them all
                held = np.zeros(total, dtype=np.uint8)
                for term, _ in scoring:
                    held[_postings(packed, term)] += 1
                required = held == len(terms)
            elif len(rare) < len(terms):  # only chunks with a rare word
                required = np.zeros(total, dtype=bool)
                for term in rare:
                    if term is not None and packed.frequency(term):
                        required[_postings(packed, term)] = True
        scores = np.zeros(total, dtype=np.float32)
        matched = np.zeros(total, dtype=bool)
        for term, frequency in scoring:
            start, end = int(packed.starts[term]), int(packed.starts[term + 1])
            documents = packed.documents[start:end]
            tf = packed.counts[start:end].astype(np.float32)
            weight = np.float32(_idf(total, frequency) * (K1 + 1))
            scores[documents] += weight * tf / (tf + packed.norm[documents])
            matched[documents] = True
        if required is not None:
            matched &= required
        if allowed is not None:
            matched &= np.array([allowed(f) for f in packed.file_ids], dtype=bool)[packed.row_file]
        found = np.flatnonzero(matched)
        if len(found) > limit:
            found = found[np.argpartition(-scores[found], limit - 1)[:limit]]
            found.sort()  # ties go to the earlier document, as without the partition
        found = found[np.argsort(-scores[found], kind="stable")]
        return [
            Candidate(
                store_id,
                packed.file_ids[packed.row_file[d]],
                int(packed.row_chunk[d]),
                float(scores[d]),
            )
            for d in found
        ]

    def prepare(self) -> None:
        """Merge the changes since the last search into the arrays now (about a second at 100k
        chunks) rather than in the next search."""
        self._pack()

    def memory_bytes(self) -> int:
        """What the arrays hold (the vocabulary's strings aside)."""
        with self._lock:
            arrays: list[np.ndarray] = []
            for s in self._added.values():
                arrays += [s.lengths, s.terms, s.chunks, s.counts]
            if (p := self._packed) is not None:
                arrays += [p.row_file, p.row_chunk, p.lengths, p.norm, p.starts]
                arrays += [p.documents, p.counts]
            return sum(a.nbytes for a in arrays)

    def _pack(self) -> _Packed:
        with self._lock:
            if self._packed is not None and not self._removed and not self._added:
                return self._packed
            # Runs of (terms, documents, counts), each sorted by term then document; documents
            # are numbered anew: the kept files first, in their order, then the added ones.
            runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            names: list[str] = []
            sizes: list[int] = []  # chunks per file, in the order of names
            lengths: list[npt.NDArray[np.int32]] = []
            old = self._packed
            if old is not None:
                kept = np.array([f not in self._removed for f in old.file_ids], dtype=bool)
                names = [f for f, k in zip(old.file_ids, kept, strict=True) if k]
                per_file = np.bincount(old.row_file, minlength=len(old.file_ids))
                sizes = [int(n) for n in per_file[kept]]
                kept_rows = kept[old.row_file]
                renumbered = (np.cumsum(kept_rows, dtype=np.int64) - 1).astype(np.int32)
                terms = np.repeat(
                    np.arange(len(old.starts) - 1, dtype=np.int32), np.diff(old.starts)
                )
                keep = kept_rows[old.documents]
                runs.append((terms[keep], renumbered[old.documents[keep]], old.counts[keep]))
                lengths.append(old.lengths[kept_rows])
            total = sum(len(x) for x in lengths)
            for name, segment in self._added.items():
                names.append(name)
                sizes.append(len(segment.lengths))
                runs.append((segment.terms, segment.chunks + total, segment.counts))
                lengths.append(segment.lengths)
                total += len(segment.lengths)
            all_terms = np.concatenate([r[0] for r in runs]) if runs else _EMPTY
            # A stable sort merges the runs and keeps each term's documents ascending.
            order = np.argsort(all_terms, kind="stable")
            documents = np.concatenate([r[1] for r in runs])[order] if runs else _EMPTY
            counts = (np.concatenate([r[2] for r in runs]) if runs else _EMPTY)[order]
            starts = np.zeros(len(self._vocabulary) + 1, dtype=np.int64)
            np.cumsum(np.bincount(all_terms, minlength=len(self._vocabulary)), out=starts[1:])
            words = np.concatenate(lengths) if lengths else _EMPTY
            mean = float(words.mean()) if len(words) else 1.0
            self._packed = _Packed(
                file_ids=names,
                row_file=np.repeat(np.arange(len(names), dtype=np.int32), sizes),
                row_chunk=np.concatenate([np.arange(n, dtype=np.int32) for n in sizes] or [_EMPTY]),
                lengths=words.astype(np.int32),
                norm=(K1 * (1 - B + B * words / (mean or 1.0))).astype(np.float32),
                starts=starts,
                documents=documents.astype(np.int32),
                counts=counts.astype(np.uint16),
            )
            self._packed_files = set(names)
            self._added.clear()
            self._removed.clear()
            return self._packed


_EMPTY = np.zeros(0, dtype=np.int32)


def _postings(packed: _Packed, term: int) -> npt.NDArray[np.int32]:
    return packed.documents[int(packed.starts[term]) : int(packed.starts[term + 1])]


def _idf(total: int, frequency: int) -> float:
    idf = math.log((total - frequency + 0.5) / (frequency + 0.5))
    return idf if idf > 0 else 1e-6
