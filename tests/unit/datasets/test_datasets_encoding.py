"""CSV encodings: a corpus of CSV-shaped files in many encodings, each detected and read back exactly.

Each file has a header, numbers, dates and a text column of words in its
language, because that is where detectors go wrong: digits and delimiters
outweigh the letters (charset-normalizer 3.5.3 read short French Latin-1 files
as cp1250). Bytes that no single encoding explains keep the clear error.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pyarrow as pa
import pytest

from airflow_mlops.datasets import SourceError, ingest, open_source
from airflow_mlops.datasets.sources.encoding import DETECT_BYTES, detect_encoding

#: Words of each language, space-separated.
WORDS = {
    "fr": "crème brûlée café déjà élève être forêt garçon hôtel île naïve où père Noël août théâtre",
    "de": "Größe Straße Äpfel Übung schön müde Bär Käse Löwe Tür Fußball weiß Mädchen Brücke grün",
    "es": "niño mañana corazón canción está árbol búho pingüino años España señor acción jamón",
    "fr-typo": "l\u2019été \u201cNoël\u201d 10\u20ac cœur déjà Œuvre bœuf …fin \u2018oui\u2019 —tiret",
    "ru": "привет мир молоко хлеб столица Москва дорога книга улица ёлка жизнь счастье работа зима",
    "cs": "Příliš žluťoučký kůň úpěl ďábelské ódy řeka čeština město škola dům ulice náměstí",
    "pl": "Zażółć gęślą jaźń łódź źdźbło pięść żółw Kraków Gdańsk miłość świat dziękuję język",
    "el": "Αθήνα καλημέρα ευχαριστώ θάλασσα ήλιος σπίτι δρόμος νερό",
    "ja": "東京 大阪 こんにちは ありがとう 日本語 カタカナ 新宿 渋谷 寿司 桜 山田 太郎 会社 電話",
    "zh": "北京 上海 你好 谢谢 中文 数据 学习 机器 公司 电话 广州 深圳 天气 朋友",
}

#: (language, encoding as written, the Python codec name recorded, what decided it)
CORPUS = [
    ("fr", "latin-1", "cp1252", "detector"),  # printable Latin-1 is Windows-1252: the same text
    ("de", "latin-1", "cp1252", "detector"),
    ("es", "latin-1", "cp1252", "detector"),
    ("fr-typo", "cp1252", "cp1252", "detector"),
    ("ru", "cp1251", "cp1251", "detector"),
    ("cs", "cp1250", "cp1250", "detector"),
    ("pl", "cp1250", "cp1250", "detector"),
    ("el", "cp1253", "cp1253", "detector"),
    ("ja", "shift_jis", "cp932", "detector"),
    ("zh", "gb18030", "gb18030", "detector"),
    ("fr", "utf-8", "utf-8", "utf-8"),
    ("ja", "utf-8", "utf-8", "utf-8"),
    ("ru", "utf-8-sig", "utf-8", "bom"),
    ("ru", "utf-16", "utf-16", "bom"),
]


def csv_lines(language: str, rows: int, seed: int = 0) -> list[list[str]]:
    """A header and ``rows`` rows: id, amount, city, a note of 0-3 words, date, 0/1 label."""
    rnd = random.Random(seed)
    words = WORDS[language].split()
    lines = [["id", "amount", "city", "note", "date", "label"]]
    for i in range(rows):
        note = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 3))) if i % 3 else ""
        amount = f"{rnd.uniform(0, 1000):.2f}"
        lines.append([f"C{i:04d}", amount, rnd.choice(words), note, f"2024-01-{1 + i % 28:02d}", str(i % 2)])
    return lines


def text_of(lines: list[list[str]]) -> str:
    return "".join(",".join(line) + "\n" for line in lines)


def read_back(path: Path) -> tuple[list[list[str]], dict[str, object]]:
    """The rows as the CSV reader delivers them (after the fingerprint pass), and its description."""
    source = open_source(path)
    source.fingerprint()
    table = pa.concat_tables(chunk.table for chunk in source.chunks())
    rows = [[value or "" for value in row.values()] for row in table.to_pylist()]
    return [list(table.column_names), *rows], source.describe()


@pytest.mark.parametrize(
    ("language", "written", "recorded", "by"), CORPUS, ids=[f"{c[0]}-{c[1]}" for c in CORPUS]
)
@pytest.mark.parametrize("rows", [5, 40, 2000])
def test_corpus_is_detected_and_read_back_exactly(
    language: str, written: str, recorded: str, by: str, rows: int, tmp_path: Path
) -> None:
    lines = csv_lines(language, rows, seed=rows)
    path = tmp_path / "data.csv"
    path.write_bytes(text_of(lines).encode(written))
    rows_read, described = read_back(path)
    assert rows_read == lines
    assert described["encoding"] == {"name": recorded, "by": by}
    assert described["dialect"]["encoding"] == recorded  # type: ignore[index]


def test_latin1_snapshot_records_the_detected_encoding(tmp_path: Path) -> None:
    """The issue's case: a Latin-1 file is ingested, and the snapshot says which encoding was detected."""
    lines = csv_lines("fr", 60)
    path = tmp_path / "latin1.csv"
    path.write_bytes(text_of(lines).encode("latin-1"))
    snap = ingest(path, dataset="fr", target="label", snapshots_dir=tmp_path / "s")
    assert snap.meta()["source_info"]["encoding"] == {"name": "cp1252", "by": "detector"}
    frame = snap.train_frame()
    cities = set(frame["city"].astype(str))
    assert cities <= set(WORDS["fr"].split()) and any(not city.isascii() for city in cities)
    given = ingest(
        path, dataset="fr2", target="label", snapshots_dir=tmp_path / "s", options={"encoding": "latin-1"}
    )
    assert given.meta()["source_info"]["encoding"] == {"name": "latin-1", "by": "option"}


def test_random_binary_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(random.Random(0).randbytes(5000))
    with pytest.raises(SourceError, match="no other single encoding explains") as caught:
        read_back(path)
    assert caught.value.check == "encoding"
    assert "options={'encoding': 'latin-1'}" in str(caught.value)


def test_utf8_with_a_stray_latin1_byte_is_refused_not_read_as_mojibake(tmp_path: Path) -> None:
    lines = csv_lines("fr", 40)
    lines[7][2] = "caf\udce9"  # a lone 0xE9 byte among UTF-8 text
    path = tmp_path / "mixed.csv"
    path.write_bytes(text_of(lines).encode("utf-8", errors="surrogateescape"))
    with pytest.raises(
        SourceError, match=r"line 8, column 'city'.*bytes b'\\xe9' are not valid UTF-8"
    ) as caught:
        read_back(path)
    assert caught.value.column == "city"


def test_a_single_non_latin_word_is_too_little_to_guess_from(tmp_path: Path) -> None:
    """One Cyrillic word is often read in the wrong script: refused, with the hint to pass the encoding."""
    lines = [["id", "city", "label"], ["1", "Москва", "0"], ["2", "Paris", "1"]]
    path = tmp_path / "one_word.csv"
    path.write_bytes(text_of(lines).encode("cp1251"))
    with pytest.raises(SourceError, match="no other single encoding explains"):
        read_back(path)
    assert read_back_with(path, "cp1251") == lines


def read_back_with(path: Path, encoding: str) -> list[list[str]]:
    source = open_source(path, options={"encoding": encoding})
    source.fingerprint()
    table = pa.concat_tables(chunk.table for chunk in source.chunks())
    return [list(table.column_names), *[[v or "" for v in row.values()] for row in table.to_pylist()]]


def test_a_byte_after_the_detected_sample_that_the_encoding_does_not_explain(tmp_path: Path) -> None:
    """Detection sees the first bytes; the whole file is then decoded strictly, and a bad byte named."""
    lines = csv_lines("fr", 40)
    head = text_of(lines).encode("cp1252")
    filler = b"".join(b"C9999,1.00,Paris,,2024-01-01,%d\n" % (i % 2) for i in range(DETECT_BYTES // 30 + 10))
    path = tmp_path / "late.csv"
    path.write_bytes(head + filler + b"C9999,1.00,Par\x81s,,2024-01-01,0\n")
    line = (head + filler).count(b"\n") + 1
    with pytest.raises(
        SourceError,
        match=rf"line {line}, column 'city'.*bytes b'\\x81' are not valid cp1252, the "
        "encoding detected from the file's first 1 MiB",
    ) as caught:
        read_back(path)
    assert caught.value.column == "city"


def test_detection_cuts_the_sample_at_a_line_end() -> None:
    """A multi-byte character cut by the end of the sample does not make UTF-8 look invalid."""
    text = "id,name\n" + "1,東京\n" * 10
    sample = text.encode("utf-8")[:-3]
    detected = detect_encoding(sample)
    assert detected is not None and detected.encoding == "utf-8"
    assert codecs.lookup(detect_encoding("a,b\n".encode("utf-16")).encoding).name == "utf-16"  # type: ignore[union-attr]
