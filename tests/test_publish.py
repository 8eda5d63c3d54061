"""Publish stage: the real stage and the real huggingface_hub client against a local Hub."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from pipeline.publish.files import RUN_FILES
from pipeline.publish.stage import main
from tests.conftest import tiny_config_dict, write_config
from tests.hub_server import HubServer, Repo

TOKEN = "hf_TestSecretToken0123456789abcdef"
RUN = "tiny"
METRICS = {
    "split": "test",
    "n": 24,
    "accuracy": 0.7916666666666666,
    "macro_f1": 0.7712345,
    "weighted_f1": 0.78,
    "macro_precision": 0.8,
    "macro_recall": 0.79,
    "weighted_precision": 0.8,
    "weighted_recall": 0.79,
    "top_k_accuracy": {"1": 0.7916666666666666, "3": 0.9583333333333334, "5": 1.0},
    "group_accuracy": 0.875,
    "baseline": {
        "name": "tfidf-char-logreg",
        "accuracy": 0.625,
        "macro_f1": 0.6,
        "top_k_accuracy": {"1": 0.625, "3": 0.9, "5": 1.0},
        "group_accuracy": 0.75,
    },
    "data": {"split_sha256": "0" * 64},
    "model": RUN,
}


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch):
    """A running local Hub; HF_ENDPOINT and HF_TOKEN point the client at it."""
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    with HubServer(tokens={TOKEN: "alice"}, orgs={"alice": ["emotion-lab"]}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(constants, "ENDPOINT", server.url)  # read at import otherwise
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets it for the rest
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        reset_sessions()
        yield server
    reset_sessions()


def make_project(root: Path, run_dir: Path, tiny_bert: Path, report: bool = True) -> Path:
    """A project root holding a copy of ``run_dir`` as models/tiny and (optionally) its report."""
    shutil.copytree(run_dir, root / "models" / RUN)
    if not (root / "models" / RUN / "run.json").is_file():  # the untrained fixture has none
        record = {"status": "finished", "best_epoch": 1, "base_model": {"name_or_path": "x/y"}}
        (root / "models" / RUN / "run.json").write_text(json.dumps(record))
    if report:
        write_report(root, METRICS)
    cfg = tiny_config_dict(root, tiny_bert, publish={"license": "mit", "datasets": ["x/emo"]})
    return write_config(root / "config.yaml", cfg)


def write_report(root: Path, metrics: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = root / "reports" / RUN / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    (root / "reports" / RUN / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    plt.imsave(figures / "confusion_matrix.png", [[0.0, 1.0], [1.0, 0.0]])


@pytest.fixture()
def project(tmp_path: Path, untrained_run: Path, tiny_bert: Path) -> Path:
    return make_project(tmp_path, untrained_run, tiny_bert)


def publish(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def assert_no_token(*texts: str, root: Path | None = None) -> None:
    for text in texts:
        assert TOKEN not in text
    for path in root.rglob("*") if root else []:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_publish_trained_run_end_to_end(
    hub: HubServer, tmp_path: Path, trained_run: Path, tiny_bert: Path, capsys, caplog
) -> None:
    from huggingface_hub import ModelCard

    caplog.set_level("DEBUG")
    config = make_project(tmp_path, trained_run, tiny_bert)
    assert publish(config, "--repo", "alice/ko-emotion") == 0
    out, err = capsys.readouterr()

    repo = hub.repos["alice/ko-emotion"]
    assert repo.private  # the config default
    head = hub.history("alice/ko-emotion")[0]
    assert out.splitlines()[0] == f"{hub.url}/alice/ko-emotion"
    assert f"commit {head.oid}" in out
    local = {n: tmp_path / "models" / RUN / n for n in RUN_FILES}
    local = {n: p for n, p in local.items() if p.is_file()}
    local["metrics.json"] = tmp_path / "reports" / RUN / "metrics.json"
    local["figures/confusion_matrix.png"] = tmp_path / "reports/tiny/figures/confusion_matrix.png"
    remote = hub.files("alice/ko-emotion")
    assert set(remote) == {*local, "README.md", ".gitattributes"}
    for name, path in local.items():
        assert remote[name] == path.read_bytes(), name
    assert {"tf_model.h5", "figures/confusion_matrix.png"} <= head.lfs  # went through LFS
    assert "history.csv" not in remote and "run.json" not in remote

    card = ModelCard(remote["README.md"].decode())
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": METRICS["accuracy"], "f1": METRICS["macro_f1"]}
    record = json.loads((tmp_path / "models" / RUN / "run.json").read_text())
    assert f"| best epoch (weights kept) | {record['best_epoch']} |" in card.text
    t = json.loads(remote["calibration.json"])["temperature"]  # published, and the card says so
    assert f"temperature T = {t:.4g}" in card.text and "logits / T" in card.text
    assert_no_token(out, err, caplog.text, "".join(map(str, hub.requests)), root=tmp_path)
    assert all(TOKEN.encode() not in body for body in hub.bodies)

    # The card's usage snippet, run on the files the Hub received, names the emotions.
    snapshot = tmp_path / "snapshot"
    for name, data in remote.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_bytes(data)
    code = card.text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(code.replace('"alice/ko-emotion"', repr(str(snapshot))), {})
    predictions = capsys.readouterr().out
    labels = json.loads(remote["labels.json"])["id2label"].values()
    assert "LABEL_" not in predictions and sum(name in predictions for name in labels) == 3


def test_every_file_arrives_and_card_matches_report(hub: HubServer, project: Path, capsys) -> None:
    from huggingface_hub import ModelCard

    assert publish(project, "--repo", "emotion-lab/tiny-emotion", "--public") == 0
    remote = hub.files("emotion-lab/tiny-emotion")
    run_dir = project.parent / "models" / RUN
    for name in ("config.json", "tf_model.h5", "tokenizer.json", "vocab.txt", "labels.json"):
        assert remote[name] == (run_dir / name).read_bytes(), name
    assert not hub.repos["emotion-lab/tiny-emotion"].private
    card = ModelCard(remote["README.md"].decode())
    assert card.data.language == "ko" and card.data.license == "mit"
    assert card.data.datasets == ["x/emo"] and card.data.base_model == "x/y"
    assert "![Confusion matrix on the test split](figures/confusion_matrix.png)" in card.text
    assert capsys.readouterr().out.count("commit ") == 1


def test_second_push_is_exactly_one_new_commit(hub: HubServer, project: Path, capsys) -> None:
    repo = "alice/tiny"
    assert publish(project, "--repo", repo) == 0
    first = hub.history(repo)[0]
    # Re-evaluated: the report changes, so the card changes too.
    write_report(project.parent, {**METRICS, "accuracy": 0.8333333333333334})
    assert publish(project, "--repo", repo, "--message", "Re-evaluated") == 0
    history = hub.history(repo)
    assert len(history) == 3  # initial commit, first push, second push
    second = history[0]
    assert second.parent == first.oid and second.message == "Re-evaluated"
    assert set(second.files) == set(first.files)
    assert second.files["tf_model.h5"] == first.files["tf_model.h5"]
    assert second.files["README.md"] != first.files["README.md"]
    # Pushing the very same files again makes no commit at all (the client skips it).
    assert publish(project, "--repo", repo) == 0
    assert len(hub.history(repo)) == 3
    assert "unchanged: no new commit" in capsys.readouterr().out


def test_dry_run_sends_nothing_and_shows_files_and_card(
    hub: HubServer, project: Path, capsys
) -> None:
    assert publish(project, "--repo", "alice/tiny", "--dry-run") == 0
    out = capsys.readouterr().out
    assert hub.requests == []
    run_dir = project.parent / "models" / RUN
    size = (run_dir / "tf_model.h5").stat().st_size
    assert f"{size:>12,}  tf_model.h5" in out
    assert "figures/confusion_matrix.png" in out and "metrics.json" in out
    card = out.split("--- README.md ---\n", 1)[1]
    assert card.startswith("---\n") and "model-index:" in card and "## Usage" in card


def test_rejected_token_gives_clear_message(hub: HubServer, project: Path, capsys) -> None:
    hub.fail_always = 401
    assert publish(project, "--repo", "alice/tiny") == 2
    err = capsys.readouterr().err
    assert "rejected the token (401)" in err and "No commit was made" in err
    assert TOKEN not in err and hub.repos == {}


def test_no_token_gives_clear_message(
    hub: HubServer, project: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-here"))
    assert publish(project, "--repo", "alice/tiny") == 2
    assert "no Hugging Face token: set HF_TOKEN" in capsys.readouterr().err
    assert hub.requests == []


def test_repo_of_someone_else_is_refused(hub: HubServer, project: Path, capsys) -> None:
    assert publish(project, "--repo", "bob/tiny") == 2
    err = capsys.readouterr().err
    assert "refused to write to bob/tiny (403) for user alice" in err
    assert "belongs to someone else" in err and hub.repos == {}
    # bob's existing public repo: create_repo(exist_ok) passes, the upload is refused.
    hub.repos["bob/public"] = Repo("bob/public", private=False)
    hub.new_commit(hub.repos["bob/public"], "main", "bob's work", {"a.txt": b"a"}, set())
    assert publish(project, "--repo", "bob/public") == 2
    assert "refused to write to bob/public (403)" in capsys.readouterr().err
    assert [c.message for c in hub.history("bob/public")] == ["bob's work"]


def test_lfs_upload_500_once_is_retried(hub: HubServer, project: Path) -> None:
    hub.fail_next("/lfs-upload/", 500)
    assert publish(project, "--repo", "alice/tiny") == 0
    puts = [path for method, path in hub.requests if method == "PUT"]
    assert len(puts) == len(set(puts)) + 1  # one upload was sent twice
    tf_model = (project.parent / "models" / RUN / "tf_model.h5").read_bytes()
    assert hub.files("alice/tiny")["tf_model.h5"] == tf_model


def test_commit_500_fails_cleanly_and_a_rerun_succeeds(
    hub: HubServer, project: Path, capsys
) -> None:
    hub.fail_next("/commit/", 500)
    assert publish(project, "--repo", "alice/tiny") == 2
    assert "answered 500 while uploading and committing" in capsys.readouterr().err
    assert [c.message for c in hub.history("alice/tiny")] == ["initial commit"]
    assert publish(project, "--repo", "alice/tiny") == 0
    assert len(hub.history("alice/tiny")) == 2


def test_network_down_gives_clear_message(
    project: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    try:
        assert publish(project, "--repo", "alice/tiny") == 2
    finally:
        reset_sessions()
    err = capsys.readouterr().err
    assert "cannot reach the Hub at http://127.0.0.1" in err and "ConnectionError" in err


def test_new_branch_is_created_and_main_untouched(hub: HubServer, project: Path) -> None:
    assert publish(project, "--repo", "alice/tiny", "--revision", "v1") == 0
    assert [c.message for c in hub.history("alice/tiny")] == ["initial commit"]
    assert "README.md" in hub.files("alice/tiny", "v1")


def test_refuses_without_report_unless_forced(
    hub: HubServer, tmp_path: Path, untrained_run: Path, tiny_bert: Path, capsys
) -> None:
    config = make_project(tmp_path, untrained_run, tiny_bert, report=False)
    assert publish(config, "--repo", "alice/tiny") == 2
    assert "no evaluation report" in capsys.readouterr().err and hub.requests == []
    assert publish(config, "--repo", "alice/tiny", "--force", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "published without an evaluation report" in out and "model-index" not in out


def test_bad_inputs_are_named(hub: HubServer, project: Path, capsys) -> None:
    assert publish(project, "--repo", "not a repo", "--dry-run") == 2
    assert "must look like user/name" in capsys.readouterr().err
    for repo in ("alice/..", "alice/-x", "alice/x.git", "alice/" + "a" * 200):
        assert publish(project, "--repo", repo, "--dry-run") == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "not a valid Hub repo id" in errors[0]
    assert hub.requests == []
    config_json = project.parent / "models" / RUN / "config.json"
    cfg = json.loads(config_json.read_text())
    cfg["id2label"] = {k: f"LABEL_{k}" for k in cfg["id2label"]}
    config_json.write_text(json.dumps(cfg))
    assert publish(project, "--repo", "alice/tiny") == 2
    assert "config.json: id2label does not match labels.json" in capsys.readouterr().err
    assert hub.requests == []


def test_a_run_of_another_task_is_refused_by_name(hub: HubServer, project: Path, capsys) -> None:
    """A NER run under a classifier's config got a classifier's card (with --force, rc 0)."""
    run_dir = project.parent / "models" / RUN
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "config": {"task": "text-generation"}}))
    assert publish(project, "--repo", "alice/tiny", "--dry-run") == 2
    assert "was trained for task text-generation (its run.json)" in capsys.readouterr().err
    (run_dir / "run.json").unlink()  # forced: only config.json says what the run holds
    config_json = run_dir / "config.json"
    cfg = json.loads(config_json.read_text())
    config_json.write_text(json.dumps({**cfg, "architectures": ["BertForTokenClassification"]}))
    assert publish(project, "--repo", "alice/tiny", "--dry-run", "--force") == 2
    assert "holds a BertForTokenClassification, not a model" in capsys.readouterr().err
    assert hub.requests == []


def test_a_report_without_the_tasks_metrics_is_one_line(project: Path) -> None:
    """A NER card over a report without entity_f1 was a KeyError traceback."""
    from pipeline.cards import label_card
    from pipeline.config import load_config
    from pipeline.errors import PipelineError
    from pipeline.model.loading import ModelRef
    from pipeline.tasks import get_task

    cfg, ref = load_config(project), ModelRef(RUN, project.parent / "models" / RUN)
    pieces = get_task("token-classification").card_pieces
    with pytest.raises(PipelineError, match="entity_f1 must be a number, got None"):
        label_card(cfg, ref, "alice/tiny", {}, False, pieces)


def test_offline_mode_is_refused_with_a_message(
    project: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert publish(project, "--repo", "alice/tiny") == 2
    assert "HF_HUB_OFFLINE is set: publishing needs the network" in capsys.readouterr().err


def test_a_sweeps_best_trial_is_published_with_its_nested_report(
    tmp_path: Path, untrained_run: Path, tiny_bert: Path, capsys
) -> None:
    # evaluate files a trial's report under reports/<sweep>/<trial>/, like its run directory.
    shutil.copytree(untrained_run, tmp_path / "models" / "sw" / "t1")
    (tmp_path / "models" / "sw" / "t1" / "run.json").write_text('{"status": "finished"}')
    report = tmp_path / "reports" / "sw" / "t1"
    report.mkdir(parents=True)
    (report / "metrics.json").write_text(json.dumps({**METRICS, "model": "sw/t1"}))
    best = tmp_path / "reports" / "sweeps" / "sw" / "best.json"
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"run": "sw/t1", "run_dir": "models/sw/t1"}))
    config = write_config(tmp_path / "config.yaml", tiny_config_dict(tmp_path, tiny_bert))
    assert publish(config, "--model", "sweep:sw", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "to your-username/sw-t1 " in out and "metrics.json" in out
    assert "training run `sw/t1`" in out and "model-index:" in out


def test_a_hub_that_accepts_and_never_answers_times_out_naming_the_call(
    project: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that accepts connections and never writes: the call gives up after
    publish.timeout_s instead of hanging for ever."""
    import threading

    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    held: list[socket.socket] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    held.append(silent.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        reset_sessions()
        try:
            args = ("--repo", "alice/tiny", "--set", "publish.timeout_s=0.5")
            assert publish(project, *args) == 2
        finally:
            stop.set()
            thread.join(5)
            for conn in held:
                conn.close()
            reset_sessions()
    err = capsys.readouterr().err
    assert "did not answer within 0.5 s while checking the token (ReadTimeout)" in err
    assert held  # it did connect


@pytest.mark.parametrize(
    "change, words",
    [
        ({"input": "data/new.xlsx", "split": "test"}, "the report is of input data/new.xlsx"),
        ({"split": "new.xlsx"}, "the report is of split 'new.xlsx', not the held-out 'test'"),
        ({"split": "validation"}, "split 'validation', not the held-out 'test'"),
    ],
    ids=["ad-hoc input", "old ad-hoc report", "another split"],
)
def test_only_the_held_out_report_is_published(
    hub: HubServer, project: Path, capsys, change: dict, words: str
) -> None:
    write_report(project.parent, {**METRICS, **change})
    assert publish(project, "--repo", "alice/tiny") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and "make evaluate MODEL=tiny" in err[-1]
    assert hub.requests == []
