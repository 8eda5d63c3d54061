"""Split: per-class stratified cuts, small classes, the manifest and byte-identical reruns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data.split import (
    allocate,
    check_ratios,
    grouped_split,
    main,
    min_class_size,
    stratified_split,
)
from pipeline.errors import PipelineError
from pipeline.io import read_json, sha256_file, write_json, write_parquet
from pipeline.paths import SPLITS
from tests.xlsx_helpers import expect_error, write_config

RATIOS = [0.6, 0.2, 0.2]


def dataset(class_sizes: dict[str, int]) -> pd.DataFrame:
    """A dataset.parquet frame (the prepare contract) with unique texts."""
    rows = []
    for label_id, (label, n) in enumerate(class_sizes.items()):
        rows += [(f"{label} 문장 {i}", label, label_id) for i in range(n)]
    return pd.DataFrame(
        {
            "text": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "group": None,
            "source_file": "a.xlsx",
            "source_sheet": "S",
            "source_row": pd.Series(range(2, len(rows) + 2), dtype="int64"),
            "source_column": "사람문장1",
            "label_id": pd.Series([r[2] for r in rows], dtype="int64"),
        }
    )


def project(root: Path, class_sizes: dict[str, int]) -> Path:
    write_parquet(root / "data/interim/dataset.parquet", dataset(class_sizes))
    id2label = {str(i): name for i, name in enumerate(class_sizes)}
    write_json(root / "data/interim/labels.json", {"id2label": id2label, "label2group": {}})
    return root


def test_allocate_keeps_shares_and_one_per_split() -> None:
    assert allocate(10, RATIOS) == [6, 2, 2]
    assert allocate(3, RATIOS) == [1, 1, 1]
    assert allocate(17, RATIOS, turn=0) == [10, 4, 3]
    assert allocate(17, RATIOS, turn=1) == [10, 3, 4]  # equal shares take turns rounding up
    for n in range(3, 60):
        counts = allocate(n, RATIOS)
        assert sum(counts) == n and min(counts) >= 1


def test_min_class_size_and_ratio_checks() -> None:
    assert min_class_size(RATIOS) == 3
    assert min_class_size([0.8, 0.1, 0.1]) == 5
    for bad in ([0.5, 0.5], [0.6, 0.3, 0.3], [1.0, 0.0, 0.0]):
        with pytest.raises(PipelineError, match="split.ratios must be 3 positive numbers"):
            check_ratios(bad)


def test_stratified_split_every_class_everywhere_no_overlap() -> None:
    df = dataset({"기쁨": 50, "슬픔": 20, "분노": 7, "당황": 3})
    splits = stratified_split(df, RATIOS, seed=1)
    assert sum(len(s) for s in splits.values()) == len(df)
    texts = [set(s["text"]) for s in splits.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    for name in ("기쁨", "슬픔", "분노", "당황"):
        counts = [int((s["label"] == name).sum()) for s in splits.values()]
        assert min(counts) >= 1
    assert [int((s["label"] == "기쁨").sum()) for s in splits.values()] == [30, 10, 10]
    for frame in splits.values():  # the dataset's order is kept within a split
        assert frame["source_row"].is_monotonic_increasing


def test_stratified_split_depends_on_the_seed_only() -> None:
    df = dataset({"기쁨": 40, "슬픔": 40})
    a, b = stratified_split(df, RATIOS, seed=7), stratified_split(df, RATIOS, seed=7)
    c = stratified_split(df, RATIOS, seed=8)
    assert all(a[s].equals(b[s]) for s in SPLITS)
    assert not a["test"].equals(c["test"])


def test_main_writes_splits_and_manifest(tmp_path: Path) -> None:
    project(tmp_path, {"기쁨": 20, "슬픔": 10, "분노": 5})
    config = write_config(tmp_path, split={"seed": 3})
    assert main(["--config", str(config)]) == 0
    manifest = read_json(tmp_path / "data/processed/manifest.json")
    assert list(manifest["splits"]) == ["train", "validation", "test"]
    for name, entry in manifest["splits"].items():
        path = tmp_path / entry["path"]
        assert entry["path"] == f"data/processed/{name}.parquet"
        assert entry["sha256"] == sha256_file(path)
        frame = pd.read_parquet(path)
        assert entry["rows"] == len(frame)
        assert entry["class_counts"] == frame["label"].value_counts().to_dict()
        assert list(entry["class_counts"]) == ["기쁨", "슬픔", "분노"]  # id order
        assert frame.columns.tolist() == dataset({}).columns.tolist()
    assert manifest["splits"]["train"]["class_counts"] == {"기쁨": 12, "슬픔": 6, "분노": 3}
    assert manifest["labels"] == {
        "path": "data/interim/labels.json",
        "sha256": sha256_file(tmp_path / "data/interim/labels.json"),
    }
    assert manifest["config"]["split"] == {"ratios": RATIOS, "seed": 3, "drop_small_classes": False,
                                           "group_column": None}  # fmt: skip
    assert manifest["rule"].startswith("stratified by label, sentence by sentence")
    assert (tmp_path / "data/processed/run.json").is_file()

    first = {k: v["sha256"] for k, v in manifest["splits"].items()}
    manifest_bytes = (tmp_path / "data/processed/manifest.json").read_bytes()
    assert main(["--config", str(config)]) == 0
    again = read_json(tmp_path / "data/processed/manifest.json")
    assert {k: v["sha256"] for k, v in again["splits"].items()} == first
    assert (tmp_path / "data/processed/manifest.json").read_bytes() == manifest_bytes
    assert main(["--config", str(config), "--set", "split.seed=4"]) == 0
    other = read_json(tmp_path / "data/processed/manifest.json")
    assert other["splits"]["test"]["sha256"] != first["test"]


def test_data_prepared_for_another_task_is_refused(tmp_path: Path, capsys) -> None:
    """A generation config re-split NER's prepared sentences and recorded its own task."""
    project(tmp_path, {"기쁨": 20, "슬픔": 10, "분노": 5})
    record = {"stage": "prepare", "config": {"task": "token-classification"}}
    write_json(tmp_path / "data/interim/prepare.run.json", record)
    err = expect_error(main, ["--config", str(write_config(tmp_path))], capsys, tmp_path)
    assert "was prepared for task token-classification, not this config's" in err
    assert not (tmp_path / "data/processed").exists()


def test_single_example_class_stops(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project(tmp_path, {"기쁨": 20, "놀람": 1, "슬픔": 10, "당황": 2})
    argv = ["--config", str(write_config(tmp_path))]
    err = expect_error(main, argv, capsys, tmp_path)
    assert "too small to appear in every split (need at least 3): '놀람' (1 example), " in err
    assert "'당황' (2 examples)" in err and "split.drop_small_classes: true" in err


def test_small_classes_dropped_when_asked(tmp_path: Path) -> None:
    project(tmp_path, {"기쁨": 20, "놀람": 1, "슬픔": 10})
    config = write_config(tmp_path, split={"drop_small_classes": True})
    assert main(["--config", str(config)]) == 0
    manifest = read_json(tmp_path / "data/processed/manifest.json")
    assert manifest["dropped_classes"] == {"놀람": 1}
    assert sum(e["rows"] for e in manifest["splits"].values()) == 30


def test_duplicate_texts_in_dataset_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project(tmp_path, {"기쁨": 10})
    df = dataset({"기쁨": 10})
    df.loc[3, "text"] = df.loc[0, "text"]
    write_parquet(tmp_path / "data/interim/dataset.parquet", df)
    argv = ["--config", str(write_config(tmp_path))]
    assert "1 text(s) occur more than once" in expect_error(main, argv, capsys, tmp_path)


def test_no_dataset_yet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--config", str(write_config(tmp_path))]
    assert "run `python -m pipeline.data.prepare` first" in expect_error(
        main, argv, capsys, tmp_path
    )


# --- whole groups (dialogues) -------------------------------------------------------------------


def dialogues(n_per_class: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """A dataset whose rows come in dialogues of 1-3 sentences (column 번호), one label each."""
    rng = np.random.default_rng(seed)
    rows = []
    for label_id, (label, n) in enumerate(n_per_class.items()):
        for d in range(n):
            for turn in range(int(rng.integers(1, 4))):
                rows.append((f"{label} 대화 {d} 문장 {turn}", label, label_id, f"{label}-{d}"))
    df = dataset({})
    return pd.DataFrame(
        {
            "text": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "group": None,
            "source_file": "a.xlsx",
            "source_sheet": "S",
            "source_row": pd.Series([2 + i // 3 for i in range(len(rows))], dtype="int64"),
            "source_column": "사람문장1",
            "label_id": pd.Series([r[2] for r in rows], dtype="int64"),
            "번호": [r[3] for r in rows],
        }
    )[[*df.columns, "번호"]]


def test_grouped_split_keeps_dialogues_whole_and_label_shares() -> None:
    df = dialogues({"기쁨": 200, "슬픔": 100, "분노": 40, "당황": 3})
    splits = grouped_split(df, df["번호"], RATIOS, seed=5)
    assert sum(len(s) for s in splits.values()) == len(df)
    ids = [set(s["번호"]) for s in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])  # no dialogue in two
    for name in ("기쁨", "슬픔", "분노", "당황"):
        total = int((df["label"] == name).sum())
        shares = [int((s["label"] == name).sum()) / total for s in splits.values()]
        assert min(shares) > 0, name  # every class in every split
        if total > 100:
            assert shares == pytest.approx(RATIOS, abs=0.03), (name, shares)
    for frame in splits.values():
        assert frame["text"].map(df["text"].tolist().index).is_monotonic_increasing

    again = grouped_split(df, df["번호"], RATIOS, seed=5)
    assert all(splits[s].equals(again[s]) for s in SPLITS)
    other = grouped_split(df, df["번호"], RATIOS, seed=6)
    assert not splits["test"].equals(other["test"])


def test_main_grouped_by_column_and_by_source_row(tmp_path: Path) -> None:
    df = dialogues({"기쁨": 30, "슬픔": 20, "분노": 10})
    write_parquet(tmp_path / "data/interim/dataset.parquet", df)
    id2label = {"0": "기쁨", "1": "슬픔", "2": "분노"}
    write_json(tmp_path / "data/interim/labels.json", {"id2label": id2label, "label2group": {}})
    for column, key in (("번호", "번호"), ("row", "source_row")):
        config = write_config(tmp_path, split={"group_column": column})
        assert main(["--config", str(config)]) == 0
        manifest = read_json(tmp_path / "data/processed/manifest.json")
        assert manifest["group_column"] == column
        assert manifest["rule"].startswith(
            f"stratified by label, whole groups (split.group_column: {column}"
        )
        seen: set = set()
        for entry in manifest["splits"].values():
            keys = set(pd.read_parquet(tmp_path / entry["path"])[key])
            assert not keys & seen
            seen |= keys


def test_group_column_missing_or_blank(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project(tmp_path, {"기쁨": 10, "슬픔": 10})
    argv = ["--config", str(write_config(tmp_path, split={"group_column": "번호"}))]
    err = expect_error(main, argv, capsys, tmp_path)
    assert "split.group_column '번호': dataset.parquet has no column '번호'" in err
    assert "re-run ingest and prepare" in err
    df = dialogues({"기쁨": 10, "슬픔": 10})
    df.loc[4, "번호"] = None
    write_parquet(tmp_path / "data/interim/dataset.parquet", df)
    err = expect_error(main, argv, capsys, tmp_path)
    assert "split.group_column '번호': 1 row(s) have no value, e.g. a.xlsx, sheet 'S', row" in err


def test_classes_with_too_few_groups_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    df = dialogues({"기쁨": 10, "놀람": 2})
    write_parquet(tmp_path / "data/interim/dataset.parquet", df)
    write_json(tmp_path / "data/interim/labels.json",
               {"id2label": {"0": "기쁨", "1": "놀람"}, "label2group": {}})  # fmt: skip
    argv = ["--config", str(write_config(tmp_path, split={"group_column": "번호"}))]
    assert "'놀람' (2 groups)" in expect_error(main, argv, capsys, tmp_path)


def test_grouped_split_puts_a_three_group_class_in_every_split() -> None:
    rows = [(f"{label} {g} {t}", label, i, f"{label}-{g}")
            for i, (label, n) in enumerate((("놀람", 3), ("기쁨", 30)))
            for g in range(n) for t in range(3)]  # fmt: skip
    df = pd.DataFrame(rows, columns=["text", "label", "label_id", "번호"])
    for seed in range(10):
        splits = grouped_split(df, df["번호"], RATIOS, seed)
        assert [int((s["label"] == "놀람").sum()) for s in splits.values()] == [3, 3, 3], seed
