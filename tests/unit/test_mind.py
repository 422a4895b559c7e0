"""The MIND loader: real layouts, labels or none, empty histories, and line-exact errors."""

import pyarrow.parquet as pq
import pytest

from newsrec.data.canonical import find_splits, ingest_dir, read_table
from newsrec.data.mind import MalformedInputError


def test_reads_train_dev_test(mind_dir, tmp_path):
    s = ingest_dir(mind_dir, tmp_path / "c")
    assert s.splits == {"train": 30, "dev": 30, "test": 30}
    imps = read_table(tmp_path / "c" / "impressions.parquet")
    hist = read_table(tmp_path / "c" / "histories.parquet")
    test = imps[imps["split"] == "test"]
    assert test["clicked"].isna().all() and imps.loc[imps["split"] != "test", "clicked"].notna().all()
    assert hist["impression_id"].is_unique  # ids restart per split in MIND; canonical ids do not
    assert set(hist.groupby("split")["raw_impression_id"].min()) == {1}
    assert (hist["history"].map(len) == 0).any()
    assert str(imps["time"].dtype) == "datetime64[us, UTC]"
    assert hist["n_clicks"].isna().sum() == 30  # unlabeled test impressions
    news = read_table(tmp_path / "c" / "news.parquet")
    assert news["news_id"].is_unique and news["first_seen"].notna().any()
    assert pq.read_table(tmp_path / "c" / "feedback.parquet").num_rows == 0  # MIND has no ratings


def test_a_single_split_folder(mind_dir, tmp_path):
    assert [n for n, _ in find_splits(mind_dir / "MINDtiny_dev")] == ["dev"]
    s = ingest_dir(mind_dir / "MINDtiny_dev", tmp_path / "c")
    assert s.splits == {"dev": 30}


def test_missing_directory_or_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        find_splits(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no behaviors.tsv"):
        find_splits(tmp_path / "empty")


BAD_LINES = {
    "columns": ("7\tU1\t11/11/2019 9:05:58 AM\tN1000", "expected 5 tab-separated columns, found 4"),
    "impression id": ("x7\tU1\t11/11/2019 9:05:58 AM\t\tN1000-1", "impression id 'x7' is not a whole number"),
    "user": ("7\t\t11/11/2019 9:05:58 AM\t\tN1000-1", "user id '' is empty"),
    "time": ("7\tU1\t2019-11-11 09:05\t\tN1000-1", "time '2019-11-11 09:05' is not like"),
    "token": ("7\tU1\t11/11/2019 9:05:58 AM\t\tN1000-1 N1001-x", "candidate 'N1001-x' is not"),
    "mixed": ("7\tU1\t11/11/2019 9:05:58 AM\t\tN1000-1 N1001", "mix labeled and unlabeled"),
}


@pytest.mark.parametrize("kind", list(BAD_LINES))
@pytest.mark.parametrize("chunk_lines", [7, 200_000])
def test_malformed_line_names_file_and_line(mind_dir, tmp_path, kind, chunk_lines):
    f = mind_dir / "MINDtiny_train" / "behaviors.tsv"
    lines = f.read_text().splitlines()
    lines.insert(11, BAD_LINES[kind][0])  # becomes line 12
    f.write_text("\n".join(lines) + "\n")
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("previous output")
    with pytest.raises(MalformedInputError) as e:
        ingest_dir(mind_dir, out, chunk_lines=chunk_lines)
    assert e.value.path == f and e.value.line == 12, str(e.value)
    assert BAD_LINES[kind][1] in str(e.value)
    # nothing half-written: the old output is untouched and no temporary folder is left
    assert (out / "keep.txt").read_text() == "previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "mind"]


def test_malformed_news_line(mind_dir, tmp_path):
    f = mind_dir / "MINDtiny_dev" / "news.tsv"
    lines = f.read_text().splitlines()
    lines[4] = "N9\t\tsub\ttitle\tabstract\turl\t[]\t[]"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedInputError, match=r"news.tsv: line 5: category is empty"):
        ingest_dir(mind_dir, tmp_path / "c")


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_impression_without_candidates_is_data_not_a_crash(mind_dir, tmp_path, where):
    # the contract, not the parser, refuses it (validate: at least one candidate per impression)
    f = mind_dir / "MINDtiny_dev" / "behaviors.tsv"
    lines = f.read_text().splitlines()
    empty = "99\tU1\t11/14/2019 9:05:58 AM\tN1000\t"
    lines = [empty] + lines if where == "first" else lines + [empty]
    f.write_text("\n".join(lines) + "\n")
    ingest_dir(mind_dir, tmp_path / "c")
    hist = read_table(tmp_path / "c" / "histories.parquet")
    row = hist[(hist["split"] == "dev") & (hist["raw_impression_id"] == 99)]
    assert row["n_candidates"].tolist() == [0] and row["n_clicks"].tolist() == [0]
    dev = hist[hist["split"] == "dev"]
    imps = read_table(tmp_path / "c" / "impressions.parquet")
    clicks = imps[imps["split"] == "dev"].groupby("impression_id")["clicked"].sum()
    assert (dev.set_index("impression_id")["n_clicks"].drop(row["impression_id"]) == clicks).all()


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("7\tU1\tN1\t11/15/2019 8:55:22 AM", "expected 5 tab-separated columns, found 4"),
        ("x7\tU1\tN1\t11/15/2019 8:55:22 AM\t4", "impression id 'x7' is not a whole number"),
        ("7\tU1\tN1\t2019-11-15 08:55\t4", "time '2019-11-15 08:55' is not like"),
        ("7\tU1\tN1\t11/15/2019 8:55:22 AM\tfour", "rating 'four' is not a whole number"),
    ],
)
def test_feedback_is_read_a_chunk_at_a_time_and_a_bad_line_is_named(tmp_path, line, what):
    from newsrec.data.mind import read_feedback

    good = "7\tU1\tN1\t11/15/2019 8:55:22 AM\t4"
    f = tmp_path / "feedback.tsv"
    f.write_text("impression_id\tuser_id\tnews_id\ttime\trating\n" + "\n".join([good] * 10 + [line]) + "\n")
    with pytest.raises(MalformedInputError, match=f"line 12: {what}"):
        read_feedback(f, chunk_lines=4)
    f.write_text("impression_id\tuser_id\tnews_id\ttime\trating\n" + "\n".join([good] * 10) + "\n")
    got = read_feedback(f, chunk_lines=4)
    assert got.num_rows == 10 and got["rating"].to_pylist() == [4] * 10
