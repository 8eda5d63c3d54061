"""The config loader: checked keys and types, dotted overrides, and `python -m pipeline.config`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import Config, load_config, parse_override, with_overrides
from pipeline.config.__main__ import main
from pipeline.errors import PipelineError

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"model": {"name_or_path": "klue/bert-base"}, "ingest": {"files": ["a.xlsx"]}}


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["default.yaml", "aihub-emotion.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "configs" / name)
    assert isinstance(cfg, Config)
    assert cfg.split.ratios == [0.6, 0.2, 0.2]
    assert cfg.ingest.text_columns == ["사람문장1", "사람문장2", "사람문장3"]


def test_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.split.seed == 42 and cfg.ingest.non_text == "convert"
    assert cfg.prepare.label_table is None and cfg.train.early_stopping.patience == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**MINIMAL, "split": {"sed": 1}}, "unknown config key(s): split.sed"),
        ({**MINIMAL, "trian": {}}, "unknown config key(s): trian"),
        ({"ingest": {"files": ["a"]}}, "missing required config key: model"),
        ({**MINIMAL, "ingest": {}}, "missing required config key: ingest.files"),
        ({**MINIMAL, "split": {"seed": "one"}}, "split.seed must be an integer, got 'one'"),
        ({**MINIMAL, "split": {"seed": True}}, "split.seed must be an integer"),
        ({**MINIMAL, "split": {"ratios": 0.6}}, "split.ratios must be a list"),
        ({**MINIMAL, "split": {"ratios": [0.6, "x", 0.2]}}, "split.ratios[1] must be a number"),
        ({**MINIMAL, "ingest": {"files": "a.xlsx"}}, "ingest.files must be a list"),
        ({**MINIMAL, "ingest": {"files": ["a"], "non_text": "drop"}},
         "ingest.non_text must be one of 'convert', 'reject', got 'drop'"),
        ({**MINIMAL, "split": {"drop_small_classes": "yes"}}, "must be true or false"),
        ({**MINIMAL, "train": {"run_name": ""}},
         "c.yaml: train.run_name '' must be a name under models/"),
        ({**MINIMAL, "train": {"run_name": "../elsewhere"}}, "no empty, '.' or '..' parts"),
    ],
)  # fmt: skip
def test_bad_configs_name_the_key(tmp_path: Path, raw: dict, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        load_config(write(tmp_path, raw))
    assert message in str(info.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("split: [unclosed\n", encoding="utf-8")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_config(bad)


def test_overrides(tmp_path: Path) -> None:
    assert parse_override("train.learning_rate=3e-5") == ("train.learning_rate", 3e-5)
    assert parse_override("split.seed=7") == ("split.seed", 7)
    assert parse_override("prepare.label_table=null") == ("prepare.label_table", None)
    cfg = load_config(
        write(tmp_path, MINIMAL),
        [
            "train.learning_rate=3e-5",
            "split.ratios=[0.8, 0.1, 0.1]",
            "root=/x",
            "ingest.sheets=[S]",
        ],
    )
    assert cfg.train.learning_rate == pytest.approx(3e-5)
    assert cfg.split.ratios == [0.8, 0.1, 0.1] and cfg.root == "/x" and cfg.ingest.sheets == ["S"]
    with pytest.raises(PipelineError, match="unknown config key\\(s\\): split.sed"):
        load_config(write(tmp_path, MINIMAL), ["split.sed=1"])
    with pytest.raises(PipelineError, match="must look like section.key=value"):
        load_config(write(tmp_path, MINIMAL), ["split.seed"])


def test_with_overrides_returns_a_checked_copy(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    new = with_overrides(cfg, {"train.learning_rate": 1e-5, "split.seed": 9})
    assert new.train.learning_rate == 1e-5 and new.split.seed == 9
    assert cfg.split.seed == 42  # the original is untouched
    with pytest.raises(PipelineError, match="split.seed must be an integer"):
        with_overrides(cfg, {"split.seed": "x"})


def test_config_cli_get(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = str(write(tmp_path, MINIMAL))
    assert main(["--config", path, "--get", "split.seed", "--set", "split.seed=5"]) == 0
    assert capsys.readouterr().out.strip() == "5"
    assert main(["--config", path, "--get", "split.nope"]) == 2
    assert "error: unknown config key: split.nope" in capsys.readouterr().err
    assert main(["--config", path]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["name_or_path"] == "klue/bert-base"
    assert main(["--config", path, "--get", "train.early_stopping"]) == 0  # a section: YAML
    assert yaml.safe_load(capsys.readouterr().out)["monitor"] == "val_accuracy"


def test_python_m_pipeline_config() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.config", "--config", "configs/default.yaml",
         "--get", "ingest.files"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "['data/raw/sample_dialogues.xlsx']"


def test_exponent_without_a_dot_in_a_config_file_is_a_number(tmp_path: Path) -> None:
    # YAML 1.1 reads 2e-5 as the string "2e-5"; people write it that way.
    path = tmp_path / "c.yaml"
    path.write_text(
        "model: {name_or_path: x}\ningest: {files: [x.xlsx]}\ntrain: {learning_rate: 2e-5}\n",
        encoding="utf-8",
    )
    assert load_config(path).train.learning_rate == 2e-5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.early_stopping.patience=-1", "train.early_stopping.patience must be zero or more"),
        ("train.early_stopping.min_delta=-0.01",
         "train.early_stopping.min_delta must be zero or more"),
        ("train.weight_decay=-0.1", "train.weight_decay must be zero or more, got -0.1"),
        ("train.seed=-1", "train.seed must be in [0, 2**32 - 1], got -1"),
        ("train.seed=4294967296", "train.seed must be in [0, 2**32 - 1], got 4294967296"),
        ("train.label_smoothing=1", "train.label_smoothing must be in [0, 1)"),
        ("train.head_lr_multiplier=0", "train.head_lr_multiplier must be a positive number"),
    ],
)  # fmt: skip
def test_bad_training_values_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, override: str, message: str
) -> None:
    from pipeline.train.stage import main as train_main

    path = str(write(tmp_path, MINIMAL))
    assert train_main(["--config", path, "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {message}" or err[-1].startswith(f"error: {message}")


def test_binary_config_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    assert main(["--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"error: {path}: not a UTF-8 text file (byte 0 is 0x89); give a YAML config file"


def test_yaml_syntax_error_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model: {name_or_path: x}\ntrain:\n  epochs: [1, 2\n  seed: 3\n")
    assert main(["--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {path}:4:7: not valid YAML: ")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("split.ratios=[.nan, 0.2, 0.2]", "split.ratios must be finite"),
        ("split.seed=-1", r"split.seed must be in \[0, "),
        ("serve.max_wait_ms=.inf", r"serve.max_wait_ms must be in \[0, 1000\]"),
        ("serve.max_batch_size=0", "serve.max_batch_size must be at least 1"),
        ("serve.body_timeout_s=0", r"serve.body_timeout_s must be in \(0, 3600\]"),
        ("serve.port=70000", "serve.port must be in"),
        ("train.run_name=" + "x" * 300, "each part must be at most 200 bytes"),
        ("train.epochs=[1", "value is not valid YAML: expected ',' or ']'"),
    ],
)
def test_values_a_stage_would_crash_on_are_refused_in_one_line(
    tmp_path: Path, override: str, message: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("ingest: {files: [a.xlsx]}\nmodel: {name_or_path: x}\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=message) as info:
        load_config(config, [override])
    assert "\n" not in str(info.value)


# --- hardening: repeated keys, ratios that cannot split, numbers given to text keys -------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("model: {name_or_path: x}\ningest: {files: [a.xlsx]}\ntrain:\n  epochs: 3\n"
         "split:\n  seed: 1\ntrain:\n  epochs: 5\n", ":7:1: section or key 'train' appears twice "
         "(first on line 3)"),
        ("model: {name_or_path: x}\ningest: {files: [a.xlsx]}\ntrain:\n  epochs: 3\n"
         "  batch_size: 8\n  epochs: 5\n", ":6:3: section or key 'train.epochs' appears twice "
         "(first on line 4)"),
        ("model: {name_or_path: x, name_or_path: y}\ningest: {files: [a.xlsx]}\n",
         ":1:26: section or key 'model.name_or_path' appears twice (first on line 1)"),
    ],
)  # fmt: skip
def test_a_section_or_key_written_twice_is_refused_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, where: str
) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {path}{where}"), line


def test_a_merge_key_is_not_a_key_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "model: {name_or_path: x}\ningest: {files: [a.xlsx]}\n"
        "train:\n  <<: {epochs: 3, seed: 1}\n  epochs: 5\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert (cfg.train.epochs, cfg.train.seed) == (5, 1)  # the key written wins over the merged


@pytest.mark.parametrize(
    "ratios", ["[1, 0, 0]", "[0.5, 0.5]", "[0.6, 0.2, 0.1]", "[-0.2, 0.6, 0.6]"]
)
def test_split_ratios_that_cannot_split_are_refused_when_the_config_loads(
    tmp_path: Path, ratios: str
) -> None:
    with pytest.raises(PipelineError, match=r"split.ratios must be 3 positive shares") as info:
        load_config(write(tmp_path, MINIMAL), [f"split.ratios={ratios}"])
    assert "train/validation/test" in str(info.value) and "summing to 1" in str(info.value)


@pytest.mark.parametrize("value", ["1.0", "2024", "1e3", "true", "null"])
def test_a_text_key_set_on_the_command_line_takes_the_value_as_written(
    tmp_path: Path, value: str
) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), [f"train.run_name={value}"])
    assert cfg.train.run_name == value
    cfg = load_config(write(tmp_path, MINIMAL), [f"publish.repo_id={value}"])
    assert cfg.publish.repo_id == (None if value == "null" else value)  # str | None: null is none


def test_a_number_in_a_text_key_of_the_file_says_to_quote_it(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"train.run_name must be text, got 1.0 \(quote it"):
        load_config(write(tmp_path, {**MINIMAL, "train": {"run_name": 1.0}}))
