"""Train stage: batching, the run directory, reload, resume, skip/refuse, and each bad input."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import Config, load_config, parse_override
from pipeline.errors import PipelineError
from pipeline.fitting import length_buckets
from pipeline.io import read_json, write_json
from pipeline.train.stage import main, run, work_dir_for
from tests.conftest import tiny_config_dict, write_config

REPO = Path(__file__).resolve().parents[1]


def config(project: Path, *overrides: str) -> Config:
    return load_config(project, list(overrides))


# --- batching: pure functions ------------------------------------------------------------


def test_token_length_stats_counts_long_and_truncated() -> None:
    lengths = np.array([10, 20, 70, 130, 40])
    stats = length_buckets.token_length_stats(lengths, max_seq_len=64)
    assert stats["max"] == 130 and stats["n"] == 5 and stats["p50"] == 40
    assert stats["over_64"] == 2 and stats["over_128"] == 1 and stats["truncated"] == 2


def test_pad_width_rounds_up_to_4_and_caps_at_max_seq_len() -> None:
    assert [length_buckets.pad_width(n, 64) for n in (1, 16, 17, 50, 64)] == [4, 16, 20, 52, 64]
    assert length_buckets.pad_width(23, 22) == 23 and length_buckets.pad_width(21, 22) == 22


def test_bucket_order_covers_every_example_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 100, size=203)
    groups = length_buckets.bucket_order(lengths, batch_size=16, seed=1)
    flat = np.concatenate(groups)
    assert sorted(flat.tolist()) == list(range(203))
    spread = np.mean([np.ptp(lengths[g]) for g in groups])
    assert spread < 0.25 * np.ptp(lengths)  # buckets hold similar lengths
    again = length_buckets.bucket_order(lengths, batch_size=16, seed=1)
    other = length_buckets.bucket_order(lengths, batch_size=16, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(groups, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(groups, other, strict=True))


def test_batches_pad_per_batch_or_to_one_fixed_width() -> None:
    ids = [[1] * n for n in (3, 5, 20, 33, 7, 60)]
    labels = np.arange(6)
    widths = {
        x["input_ids"].shape[1]
        for x, _ in length_buckets.batches(ids, labels, 2, max_seq_len=64, pad_id=0, seed=0)
    }
    assert all(w % 4 == 0 for w in widths) and len(widths) > 1
    fixed = list(length_buckets.batches(ids, labels, 2, 64, pad_id=0, seed=0, fixed_width=64))
    assert {x["input_ids"].shape[1] for x, _ in fixed} == {64}
    x, y = fixed[0]
    assert x["attention_mask"].sum() == sum(len(ids[i]) for i in range(6) if labels[i] in y)


# --- bad input: each fails before training with one clear message --------------------------


def test_missing_split_files_say_run_make_data(tiny_project: Path) -> None:
    (tiny_project.parent / "data/processed/validation.parquet").unlink()
    with pytest.raises(PipelineError, match=r"validation\.parquet.*run `make data` first"):
        run(config(tiny_project))


def test_splits_of_another_task_are_refused(tiny_project: Path) -> None:
    record = {"stage": "split", "config": {"task": "text-generation"}}
    write_json(tiny_project.parent / "data/processed/run.json", record)
    with pytest.raises(PipelineError, match="was split for task text-generation, not this"):
        run(config(tiny_project))
    assert not (tiny_project.parent / "models").exists()


def test_labels_json_disagreeing_with_splits(tiny_project: Path) -> None:
    labels_path = tiny_project.parent / "data/interim/labels.json"
    labels = read_json(labels_path)
    labels["id2label"]["0"], labels["id2label"]["1"] = labels["id2label"]["1"], "x"
    write_json(labels_path, labels)
    with pytest.raises(PipelineError, match=r"train\.parquet: label .* has id 0, but .*labels"):
        run(config(tiny_project))


def test_base_model_path_that_does_not_exist(tiny_project: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        run(config(tiny_project, "model.name_or_path=/nonexistent/bert"))


def test_base_model_dir_without_weights(tiny_project: Path, tiny_bert: Path) -> None:
    empty = tiny_project.parent / "no-weights"
    shutil.copytree(tiny_bert, empty, ignore=shutil.ignore_patterns("tf_model.h5"))
    with pytest.raises(PipelineError, match="holds no weights"):
        run(config(tiny_project, f"model.name_or_path={empty}"))


def test_hub_id_while_offline(
    tiny_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(PipelineError, match=r"Hub id, but the Hub is offline.*local directory"):
        run(config(tiny_project, "model.name_or_path=klue/bert-base"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.learning_rate=0", "train.learning_rate must be a positive number"),
        ("train.learning_rate=-1e-5", "train.learning_rate must be a positive number"),
        ("train.batch_size=0", "train.batch_size must be a positive number"),
        ("train.batch_size=-8", "train.batch_size must be a positive number"),
    ],
)
def test_non_positive_learning_rate_or_batch_size(
    tiny_project: Path, override: str, message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        run(config(tiny_project, override))


def test_max_seq_len_beyond_position_embeddings(tiny_project: Path) -> None:
    # the tiny BERT has 64 position embeddings
    with pytest.raises(PipelineError, match="max_seq_len 100 exceeds the 64 position"):
        run(config(tiny_project, "model.max_seq_len=100"))


@pytest.mark.parametrize("name", ["", ".", "../outside", "/abs/run", "a//b", "sweep/../x"])
def test_run_name_that_would_leave_models_is_refused(tiny_project: Path, name: str) -> None:
    # "" would make models/ itself the run directory, and replacing it would delete every run.
    with pytest.raises(PipelineError, match=r"train\.run_name .* must be a name under models/"):
        config(tiny_project, f"train.run_name={name}")


def test_directory_that_is_no_train_run_is_not_replaced(tiny_project: Path) -> None:
    trial = tiny_project.parent / "models/demo-lr/lr1e-04/run.json"  # a sweep's trials
    trial.parent.mkdir(parents=True)
    trial.write_text("{}")
    for force in (False, True):
        with pytest.raises(PipelineError, match=r"demo-lr exists but holds no train run"):
            run(config(tiny_project, "train.run_name=demo-lr"), force=force)
    assert trial.is_file()


def test_run_inside_a_finished_run_is_refused(tiny_project: Path) -> None:
    finished = tiny_project.parent / "models/b1/run.json"
    finished.parent.mkdir(parents=True)
    finished.write_text("{}")
    with pytest.raises(PipelineError, match=r"would put a run inside the finished run .*b1"):
        run(config(tiny_project, "train.run_name=b1/inner"))
    assert not (finished.parent / "inner").exists()


def test_cli_turns_bad_input_into_exit_2(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_project.parent / "data/processed/train.parquet").unlink()
    assert main(["--config", str(tiny_project)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: missing") and "make data" in last
    assert not (tiny_project.parent / "models").exists()


# --- a trained run ------------------------------------------------------------------------


@pytest.mark.slow
def test_run_directory_follows_the_contract(trained_run: Path) -> None:
    for name in ("config.json", "tf_model.h5", "tokenizer.json", "labels.json", "curves.png"):
        assert (trained_run / name).is_file(), name
    history = pd.read_csv(trained_run / "history.csv")
    assert list(history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "seconds",
    ]
    assert history["epoch"].tolist() == [1, 2]
    record = read_json(trained_run / "run.json")
    assert record["status"] == "finished" and record["epochs_run"] == 2
    assert record["stop_reason"] == "max_epochs"
    best = history.loc[history["epoch"] == record["best_epoch"]].iloc[0]
    assert record["best_metric"] == {"name": "val_accuracy", "value": best["val_accuracy"]}
    assert record["train_samples_per_s"] > 0 and record["device"] == "CPU"
    assert record["token_lengths"]["n"] == 72 and record["token_lengths"]["truncated"] == 0
    assert set(record["data"]["splits"]) == {"train", "validation", "test"}
    assert record["config"]["train"]["run_name"] == "tiny"
    labels = read_json(trained_run / "labels.json")["id2label"]
    model_config = read_json(trained_run / "config.json")
    assert model_config["id2label"] == labels
    assert model_config["label2id"] == {n: int(i) for i, n in labels.items()}
    assert not work_dir_for(trained_run).exists()


@pytest.mark.slow
def test_saved_model_reloads_with_the_best_epochs_logits(trained_run: Path) -> None:
    """Reloaded twice: identical logits, equal to the best epoch's recorded validation loss."""
    from transformers import AutoTokenizer, TFAutoModelForSequenceClassification

    root = trained_run.parent.parent
    val = pd.read_parquet(root / "data/processed/validation.parquet")
    tokenizer = AutoTokenizer.from_pretrained(str(trained_run))
    ids = length_buckets.encode(tokenizer, val["text"], 32)
    labels = val["label_id"].to_numpy()

    def logits() -> tuple[np.ndarray, np.ndarray]:
        model = TFAutoModelForSequenceClassification.from_pretrained(str(trained_run))
        out, ys = [], []
        for x, y in length_buckets.batches(ids, labels, 8, 32, tokenizer.pad_token_id, seed=None):
            out.append(model(x, training=False).logits.numpy())
            ys.append(y)
        return np.concatenate(out), np.concatenate(ys)

    first, ys = logits()
    second, _ = logits()
    np.testing.assert_array_equal(first, second)
    log_probs = first - np.log(np.exp(first).sum(axis=1, keepdims=True))
    val_loss = -log_probs[np.arange(len(ys)), ys].mean()
    record = read_json(trained_run / "run.json")
    history = pd.read_csv(trained_run / "history.csv").set_index("epoch")
    best = history.loc[record["best_epoch"]]
    assert math.isclose(val_loss, best["val_loss"], rel_tol=1e-4)
    assert (first.argmax(axis=1) == ys).mean() == pytest.approx(best["val_accuracy"])


@pytest.mark.slow
def test_finished_run_is_skipped_and_a_different_config_refused(trained_run: Path) -> None:
    cfg_path = trained_run.parent.parent / "config.yaml"
    before = (trained_run / "run.json").read_bytes()
    result = run(config(cfg_path))
    assert result.skipped and result.run_dir == trained_run and result.epochs_run == 2
    with pytest.raises(PipelineError, match=r"changed: train\.learning_rate.*--force"):
        run(config(cfg_path, "train.learning_rate=5e-4"))
    assert (trained_run / "run.json").read_bytes() == before


@pytest.mark.slow
def test_interrupted_run_resumes_after_its_last_finished_epoch(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.fitting.callbacks import EpochCheckpoint

    cfg = config(tiny_project, "train.epochs=3", "train.run_name=sweep-x/trial")
    run_dir = tiny_project.parent / "models/sweep-x/trial"
    original = EpochCheckpoint.on_epoch_end

    def ctrl_c_after_first_epoch(self, epoch, logs=None):  # noqa: ANN001
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", ctrl_c_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.undo()
    assert not run_dir.exists()  # a half-trained run never looks finished
    state = read_json(work_dir_for(run_dir) / "state.json")
    assert state["epochs_done"] == 1

    result = run(cfg)
    assert not result.skipped and result.epochs_run == 3
    record = read_json(run_dir / "run.json")
    assert record["resumed_from_epoch"] == 1
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history.iloc[0]["val_loss"] == pytest.approx(state["history"][0]["val_loss"])
    assert not work_dir_for(run_dir).exists()


@pytest.mark.slow
@pytest.mark.heavy
def test_sigterm_stops_the_cli_and_the_rerun_resumes(tiny_project: Path) -> None:
    sets = ["train.epochs=20", "train.early_stopping.patience=100"]
    args = ["--config", str(tiny_project), "--set", sets[0], "--set", sets[1]]
    work = work_dir_for(tiny_project.parent / "models/tiny")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.train", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (work / "state.json").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    done = read_json(work / "state.json")["epochs_done"]
    assert 1 <= done < 20

    result = run(config(tiny_project, *sets))
    assert result.epochs_run == 20
    assert read_json(result.run_dir / "run.json")["resumed_from_epoch"] == done


@pytest.mark.slow
def test_adamw_warms_up_then_decays_linearly(tiny_project: Path) -> None:
    cfg = config(
        tiny_project, "train.optimizer=adamw", "train.warmup_ratio=0.5", "train.weight_decay=0.01"
    )
    history = pd.read_csv(run(cfg).run_dir / "history.csv")
    # 2 epochs x 9 steps, 9 warm-up steps: the peak after epoch 1, zero after epoch 2
    assert history["learning_rate"].tolist() == pytest.approx([1e-3, 0.0], abs=1e-9)


@pytest.mark.slow
def test_diverging_loss_fails_with_a_clear_message(tiny_project: Path) -> None:
    with pytest.raises(PipelineError, match="training diverged: loss is nan"):
        run(config(tiny_project, "train.learning_rate=1e30"))
    assert not (tiny_project.parent / "models/tiny").exists()


@pytest.mark.slow
def test_force_retrains_a_finished_run(tiny_project: Path, tiny_bert: Path) -> None:
    cfg_path = write_config(
        tiny_project,
        tiny_config_dict(tiny_project.parent, tiny_bert, train={"epochs": 1, "run_name": "f"}),
    )
    first = run(config(cfg_path))
    again = run(config(cfg_path, "train.learning_rate=2e-3"), force=True)
    assert not again.skipped and again.run_dir == first.run_dir
    assert read_json(first.run_dir / "run.json")["config"]["train"]["learning_rate"] == 2e-3


@pytest.mark.slow
def test_benchmark_writes_both_throughputs_and_their_ratio(tiny_project: Path) -> None:
    from benchmarks.train import run as bench

    report = bench(config(tiny_project), steps=3, max_lens=[32])
    written = read_json(tiny_project.parent / "reports/bench/train.json")
    assert written["speedup"] == report["speedup"] > 0
    (result,) = written["results"]
    assert all(w % 4 == 0 for w in result["bucketed"]["distinct_widths"])
    assert result["padded_to_longest"]["distinct_widths"] == [result["longest"]]
    ratio = result["bucketed"]["samples_per_s"] / result["padded_to_longest"]["samples_per_s"]
    assert result["speedup"] == pytest.approx(ratio, rel=1e-2)


# --- training recipe: label smoothing, class weights, head learning rate --------------------


def test_label_smoothing_loss_matches_its_formula() -> None:
    from pipeline.fitting.optimizer import make_loss

    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], dtype=np.float32)
    y = np.array([0, 1])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.eye(3)[y] * 0.9 + 0.1 / 3
    expected = -(target * log_p).sum(axis=1).mean()
    assert float(np.mean(make_loss(0.1)(y, logits))) == pytest.approx(expected, rel=1e-5)
    plain = -log_p[np.arange(2), y].mean()
    assert float(np.mean(make_loss(0.0)(y, logits))) == pytest.approx(plain, rel=1e-5)


def test_balanced_class_weights_and_the_weighted_dataset() -> None:
    from pipeline.fitting.optimizer import balanced_class_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    weights = balanced_class_weights(y, 4)  # class 3 absent: weight 1
    assert weights.tolist() == pytest.approx([6 / 9, 2.0, 1.0, 1.0])
    ids = [[1] * n for n in (3, 4, 5, 6, 7, 8)]
    ds = length_buckets.make_dataset(ids, y, 4, 16, 0, lambda: 0, class_weight=weights)
    seen = [(yb.numpy(), wb.numpy()) for _, yb, wb in ds]
    for yb, wb in seen:
        assert wb.tolist() == pytest.approx(weights[yb].tolist())
    assert sum(len(yb) for yb, _ in seen) == 6


def initial_head_spy(store: dict):  # noqa: ANN201
    """load_base_classifier that also keeps the new head's initial kernel in ``store``."""
    from pipeline.model.loading import load_base_classifier

    def load(checkpoint, id2label):  # noqa: ANN001, ANN202
        model = load_base_classifier(checkpoint, id2label)
        store["head"] = model.classifier.get_weights()[0].copy()
        store["body"] = model.bert.embeddings.get_weights()[0].copy()
        return model

    return load


def trained_weights(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from transformers import TFAutoModelForSequenceClassification

    model = TFAutoModelForSequenceClassification.from_pretrained(str(run_dir))
    return model.classifier.get_weights()[0], model.bert.embeddings.get_weights()[0]


@pytest.mark.slow
def test_head_lr_multiplier_moves_the_head_at_its_own_rate(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.tasks.classification.fit

    moved = {}
    for mult in (1.0, 1e-6):
        init: dict = {}
        monkeypatch.setattr(
            pipeline.tasks.classification.fit, "load_base_classifier", initial_head_spy(init)
        )
        cfg = config(
            tiny_project, "train.epochs=1", f"train.head_lr_multiplier={mult}",
            f"train.run_name=head{mult}",
        )  # fmt: skip
        head, body = trained_weights(run(cfg).run_dir)
        moved[mult] = (np.abs(head - init["head"]).max(), np.abs(body - init["body"]).max())
    assert moved[1.0][0] > 1e-3 and moved[1e-6][0] < 1e-6  # the head: at 1e-9 it stays put
    assert moved[1e-6][1] > 1e-3  # the body still trains at the full rate


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param((), marks=pytest.mark.heavy),  # plain Adam: the recipe's resume covers it
        ("train.optimizer=adamw", "train.warmup_ratio=0.3", "train.weight_decay=0.01",
         "train.head_lr_multiplier=5", "train.label_smoothing=0.1",
         "train.class_weights=balanced"),
    ],
    ids=["adam", "adamw-recipe"],
)  # fmt: skip
def test_resume_repeats_the_uninterrupted_run_exactly(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch, recipe: tuple[str, ...]
) -> None:
    """Interrupted in epoch 2, the rerun's history equals an uninterrupted run's on CPU."""
    from pipeline.fitting.callbacks import EpochCheckpoint

    sets = ("train.epochs=3", "train.early_stopping.patience=5", *recipe)
    straight = run(config(tiny_project, *sets, "train.run_name=straight"))
    original = EpochCheckpoint.on_train_batch_end

    def ctrl_c_in_epoch_2(self, batch, logs=None):  # noqa: ANN001
        original(self, batch, logs)
        if self.state.epochs_done == 1 and batch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_train_batch_end", ctrl_c_in_epoch_2)
    cfg = config(tiny_project, *sets, "train.run_name=resumed")
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.undo()
    resumed = run(cfg)
    record = read_json(resumed.run_dir / "run.json")
    assert record["resumed_from_epoch"] == 1
    for key, value in map(parse_override, recipe):  # recorded in run.json
        assert get_dotted_value(record["config"], key) == value
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    history = [pd.read_csv(r.run_dir / "history.csv")[columns] for r in (straight, resumed)]
    pd.testing.assert_frame_equal(history[0], history[1], check_exact=True)
    assert (resumed.best_epoch, resumed.best_metric) == (straight.best_epoch, straight.best_metric)


def get_dotted_value(raw: dict, key: str) -> object:
    for part in key.split("."):
        raw = raw[part]
    return raw


def test_recipe_sweep_file_expands_to_a_few_trials() -> None:
    from pipeline.sweep.spec import expand, load_sweep

    sweep = load_sweep(REPO / "configs/sweeps/recipe.yaml")
    trials = expand(sweep, load_config(REPO / sweep.base))
    assert 3 <= len(trials) <= 5
    keys = {k for t in trials for k in t.values}
    assert {"train.label_smoothing", "train.class_weights", "train.head_lr_multiplier"} <= keys


# --- storage faults ---------------------------------------------------------------------------


@pytest.mark.slow
def test_models_path_that_is_a_file_is_one_message(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_project.parent / "models").write_text("not a directory")
    assert main(["--config", str(tiny_project)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: cannot write to ") and "models" in last
    assert "must be a writable directory" in last


@pytest.mark.slow
def test_too_little_free_space_is_refused_before_training(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    message = r"models has 0\.0 MB free, but training needs about 0\.[1-9] MB"
    with pytest.raises(PipelineError, match=message):
        run(config(tiny_project))
    assert not (tiny_project.parent / "models/tiny").exists()


@pytest.mark.slow
@pytest.mark.heavy
def test_disk_full_while_checkpointing_keeps_the_last_good_epoch(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import tensorflow as tf

    original = tf.train.Checkpoint.write

    def full_at_epoch_2(self, prefix, *args, **kwargs):  # noqa: ANN001, ANN202
        if prefix.endswith("epoch-2"):
            Path(prefix + ".index").write_bytes(b"partial")  # what a full disk leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, prefix, *args, **kwargs)

    monkeypatch.setattr(tf.train.Checkpoint, "write", full_at_epoch_2)
    cfg = config(tiny_project, "train.epochs=3")
    work = work_dir_for(tiny_project.parent / "models/tiny")
    message = r"could not write the epoch 2 checkpoint to .*\.tiny\.work: No space left on device"
    with pytest.raises(PipelineError, match=message + ".*resume after epoch 1"):
        run(cfg)
    state = read_json(work / "state.json")
    assert state["epochs_done"] == 1 and state["last_ckpt"] == "ckpt/epoch-1"
    assert sorted(p.name.split(".")[0] for p in (work / "ckpt").iterdir()) == ["epoch-1"] * 2
    monkeypatch.undo()
    result = run(cfg)
    assert result.epochs_run == 3
    assert read_json(result.run_dir / "run.json")["resumed_from_epoch"] == 1


@pytest.mark.slow
def test_disk_full_while_saving_keeps_the_trained_weights(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    import pipeline.train.stage

    def full(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline.train.stage, "plot_curves", full)
    args = ["--config", str(tiny_project), "--set", "train.epochs=1"]
    assert main(args) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: could not save the trained model to" in last
    assert "No space left on device; free disk space on" in last and ".tiny.work" in last
    run_dir = tiny_project.parent / "models/tiny"
    assert not run_dir.exists() and read_json(work_dir_for(run_dir) / "state.json")["stop_reason"]
    monkeypatch.undo()
    assert main(args) == 0
    assert read_json(run_dir / "run.json")["resumed_from_epoch"] == 1
