"""The routes into the external contract besides CSV/Parquet: TensorBoard event files (written here with
tensorboardX, the API torch.utils.tensorboard shares) and W&B histories (built here as Polars tables; the export
CLI runs against a fake `wandb` module, never the network)."""

from __future__ import annotations

import sys
import types

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from supercollapse.external.tensorboard import read_tensorboard
from supercollapse.external.wandb_export import history_to_contract, main

tensorboardX = pytest.importorskip("tensorboardX")

WIDTHS, SEEDS, STEPS = (8, 16, 32), (0, 1), range(0, 100, 10)


def loss_at(width: int, seed: int, step: int) -> float:
    return 3.0 + 10.0 / (step + 1) + 0.1 * seed + 1.0 / width


def write_scalars(folder, scalars, *, suffix: str = "", start: float = 1e9) -> None:
    """scalars: (tag, value, step) in logging order, wall times 1 s apart from `start`."""
    with tensorboardX.SummaryWriter(str(folder), filename_suffix=suffix) as writer:
        for i, (tag, value, step) in enumerate(scalars):
            writer.add_scalar(tag, value, step, walltime=start + i)


@pytest.fixture
def sweep_logs(tmp_path):
    """3 widths x 2 seeds in folders w{width}_s{seed}; "flops" logged at every other evaluation only."""
    for w in WIDTHS:
        for s in SEEDS:
            scalars = []
            for step in STEPS:
                scalars.append(("loss", loss_at(w, s, step), step))
                if step % 20 == 0:
                    scalars.append(("flops", 6.0 * 1000 * w * step, step))
            write_scalars(tmp_path / f"w{w}_s{s}", scalars)
    return tmp_path


def expected_sweep() -> pl.DataFrame:
    rows = [{"run": f"w{w}_s{s}", "width": w, "seed": s, "step": step,
             "flops": 6.0 * 1000 * w * step if step % 20 == 0 else None, "loss": loss_at(w, s, step)}
            for w in WIDTHS for s in SEEDS for step in STEPS]
    # TensorBoard stores scalars as float32: the table holds the float32 value of what was logged, as float64.
    f32 = pl.col("flops", "loss").cast(pl.Float32).cast(pl.Float64)
    return pl.DataFrame(rows, schema={"run": pl.String, "width": pl.Int64, "seed": pl.Int64, "step": pl.Int64,
                                      "flops": pl.Float64, "loss": pl.Float64}).with_columns(f32).sort("run", "step")


def test_read_tensorboard_gives_one_row_per_run_and_step_with_pattern_fields(sweep_logs):
    table = read_tensorboard(sweep_logs, run_pattern="w{width}_s{seed}")
    assert_frame_equal(table, expected_sweep())
    assert table.filter(pl.col("step") == 10)["flops"].null_count() == len(WIDTHS) * len(SEEDS)


def test_read_tensorboard_nested_run_names_and_a_mapping_that_overrides_the_pattern(tmp_path):
    for w in (8, 16):
        write_scalars(tmp_path / str(w) / "0", [("loss", 1.0, 0), ("loss", 0.5, 1)])
    runs = {"8/0": {"params": 1234}, "16/0": {"params": 5678, "seed": 7}}
    table = read_tensorboard(tmp_path, run_pattern="{width}/{seed}", runs=runs)
    assert table.columns == ["run", "width", "seed", "params", "step", "loss"]
    firsts = table.filter(pl.col("step") == 0).select("run", "width", "seed", "params").rows()
    assert firsts == [("16/0", 16, 7, 5678), ("8/0", 8, 0, 1234)]


def test_read_tensorboard_of_one_file_names_the_run_by_its_folder_and_takes_a_mapping(sweep_logs):
    (file,) = (sweep_logs / "w8_s0").iterdir()
    table = read_tensorboard(file, runs={"w8_s0": {"width": 8, "seed": 0, "params": 99}})
    expected = expected_sweep().filter(pl.col("run") == "w8_s0").with_columns(pl.lit(99, pl.Int64).alias("params"))
    assert_frame_equal(table, expected.select("run", "width", "seed", "params", "step", "flops", "loss"))


def test_read_tensorboard_keeps_every_event_not_a_reservoir_sample(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing import event_accumulator as ea

    # Shrink TensorBoard's default so that a few hundred steps would be sampled if the default were used.
    monkeypatch.setitem(ea.DEFAULT_SIZE_GUIDANCE, ea.SCALARS, 10)
    write_scalars(tmp_path / "w8_s0", [("loss", 1.0 / (step + 1), step) for step in range(300)])
    table = read_tensorboard(tmp_path, run_pattern="w{width}_s{seed}")
    assert table["step"].to_list() == list(range(300))


def test_read_tensorboard_resumed_run_two_files_later_wall_time_wins(tmp_path):
    run = tmp_path / "w8_s0"
    write_scalars(run, [("loss", 10.0 - step, step) for step in range(6)], suffix=".first", start=1e9)
    # Resumed from the step-3 checkpoint: steps 3..5 logged again later, then the run goes on.
    write_scalars(run, [("loss", 100.0 + step, step) for step in range(3, 9)], suffix=".resumed", start=2e9)
    table = read_tensorboard(tmp_path, run_pattern="w{width}_s{seed}")
    assert table["step"].to_list() == list(range(9))
    assert table["loss"].to_list() == [10.0, 9.0, 8.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0]


def test_read_tensorboard_reads_tf2_tensor_scalars(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.scalar import metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    # What tf.summary.scalar (and flax / clu writers on top of it) writes: a rank-0 tensor of the scalars plugin.
    writer = EventFileWriter(str(tmp_path / "w8_s0"))
    for step in range(3):
        value = summary_pb2.Summary.Value(tag="val/loss", metadata=metadata.create_summary_metadata("", ""),
                                          tensor=tensor_util.make_tensor_proto(np.float32(2.0 - 0.5 * step)))
        writer.add_event(event_pb2.Event(wall_time=1e9 + step, step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    table = read_tensorboard(tmp_path, run_pattern="w{width}_s{seed}")
    assert table.select("step", "val/loss").rows() == [(0, 2.0), (1, 1.5), (2, 1.0)]


def test_read_tensorboard_run_not_matching_the_pattern_names_the_run_folder_and_pattern(sweep_logs):
    write_scalars(sweep_logs / "w8_s0_retry", [("loss", 1.0, 0)])
    with pytest.raises(ValueError, match=r"w8_s0_retry.*does not match run_pattern 'w\{width\}_s\{seed\}'"):
        read_tensorboard(sweep_logs, run_pattern="w{width}_s{seed}")


def test_read_tensorboard_run_missing_from_the_mapping_without_a_pattern_names_the_run(sweep_logs):
    with pytest.raises(ValueError, match=r"w16_s0: run 'w16_s0' is not in `runs` and there is no run_pattern"):
        read_tensorboard(sweep_logs, runs={"w8_s0": {"width": 8, "seed": 0}})


def test_read_tensorboard_mapping_entry_for_no_run_is_an_error(sweep_logs):
    with pytest.raises(ValueError, match=r"\['w9_s0'\] given in `runs` hold no event files"):
        read_tensorboard(sweep_logs, run_pattern="w{width}_s{seed}", runs={"w9_s0": {"params": 1}})


def test_read_tensorboard_without_event_files_names_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no events here")
    with pytest.raises(ValueError, match=r"empty: no TensorBoard event files"):
        read_tensorboard(tmp_path / "empty", run_pattern="w{width}_s{seed}")


def test_read_tensorboard_event_file_without_scalars_names_the_file(tmp_path):
    with tensorboardX.SummaryWriter(str(tmp_path / "w8_s0")) as writer:
        writer.add_text("note", "only text", 0)
    (file,) = (tmp_path / "w8_s0").iterdir()
    with pytest.raises(ValueError, match=rf"{file.name}: no scalar events"):
        read_tensorboard(tmp_path, run_pattern="w{width}_s{seed}")


@pytest.mark.parametrize("pattern, message", [
    ("w{width}{seed}", "separated by text"),
    ("w{width:d}_s{seed}", "identifier"),
    ("w{0}_s{seed}", "identifier"),
    ("w{width}_s{width}", "appears twice"),
    ("w{width_s{seed}", r"run_pattern 'w\{width_s\{seed\}'"),
])
def test_read_tensorboard_rejects_a_malformed_run_pattern(sweep_logs, pattern, message):
    with pytest.raises(ValueError, match=message):
        read_tensorboard(sweep_logs, run_pattern=pattern)


def test_read_tensorboard_without_tensorboard_says_how_to_install_it(sweep_logs, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    with pytest.raises(ImportError, match=r"pip install tensorboard"):
        read_tensorboard(sweep_logs, run_pattern="w{width}_s{seed}")


# --- W&B -------------------------------------------------------------------------------------------------------

# A sparse W&B history: train steps log lr and flops, every third step also logs the eval loss and tokens.
HISTORY = pl.DataFrame({
    "_step": list(range(7)),
    "lr": [1e-3, 9e-4, 8e-4, 7e-4, 6e-4, 5e-4, 4e-4],
    "flops": [0.0, 1e9, 2e9, 3e9, 4e9, 5e9, 6e9],
    "val/loss": [5.0, None, None, 4.0, None, None, 3.5],
    "tokens": [0.0, None, None, 3072.0, None, None, 6144.0],  # W&B hands back some integers as floats
    "n_params": [None, None, None, None, None, None, 123456],  # logged once, as a history constant
})
# Nested keys (addressed "model.d_model") and W&B's {"value": ...} wrapping, at the top and inside.
CONFIG = {"model": {"value": {"d_model": 64, "depth": 2}, "desc": None}, "seed": {"value": 3}, "opt": {"lr": 1e-3}}


def test_history_to_contract_keeps_loss_rows_and_reads_config_and_history_constants():
    table = history_to_contract(HISTORY, CONFIG, width="model.d_model", params="n_params", seed="seed",
                                loss="val/loss", compute="flops", tokens="tokens", lr="lr")
    expected = pl.DataFrame({"width": [64] * 3, "params": [123456] * 3, "seed": [3] * 3, "step": [0, 3, 6],
                             "loss": [5.0, 4.0, 3.5], "compute": [0.0, 3e9, 6e9], "tokens": [0, 3072, 6144],
                             "lr": [1e-3, 7e-4, 4e-4]},
                            schema_overrides={k: pl.Int64 for k in ("width", "params", "seed", "step", "tokens")})
    assert_frame_equal(table, expected)


def test_history_to_contract_reads_a_flat_dotted_config_key_and_leaves_out_what_is_not_given():
    table = history_to_contract(HISTORY, {"model.d_model": 32, "n_params": 999, "seed": 0}, width="model.d_model",
                                params="n_params", seed="seed", loss="val/loss", tokens="tokens")
    assert table.columns == ["width", "params", "seed", "step", "loss", "tokens"]
    assert table.row(0) == (32, 999, 0, 0, 5.0, 0)  # the config wins over the history's n_params


def test_history_to_contract_needs_compute_or_tokens():
    with pytest.raises(ValueError, match=r"compute: tokens.*6 \* params \* tokens"):
        history_to_contract(HISTORY, CONFIG, width="model.d_model", params="n_params", seed="seed", loss="val/loss")


def test_history_to_contract_missing_config_key_lists_the_keys_there_are():
    with pytest.raises(ValueError, match=r"width: 'model.width' is neither.*'model.d_model', 'model.depth'"):
        history_to_contract(HISTORY, CONFIG, width="model.width", params="n_params", seed="seed", loss="val/loss",
                            compute="flops")


def test_history_to_contract_missing_history_column_lists_the_columns():
    with pytest.raises(ValueError, match=r"loss: 'eval/loss' is not a history column.*'val/loss'"):
        history_to_contract(HISTORY, CONFIG, width="model.d_model", params="n_params", seed="seed",
                            loss="eval/loss", compute="flops")


def test_history_to_contract_rejects_a_run_value_that_is_not_one_integer():
    with pytest.raises(ValueError, match=r"params: history column 'flops' must hold one value"):
        history_to_contract(HISTORY, CONFIG, width="model.d_model", params="flops", seed="seed", loss="val/loss",
                            compute="flops")
    with pytest.raises(ValueError, match=r"seed: 'opt.lr' must be an integer, got 0.001"):
        history_to_contract(HISTORY, CONFIG, width="model.d_model", params="n_params", seed="opt.lr",
                            loss="val/loss", compute="flops")


class FakeRun:
    """The part of wandb's public Run the export uses; scan_history keeps only rows holding every key, as W&B's."""

    def __init__(self, run_id: str, config: dict, history: pl.DataFrame):
        self.id, self.name, self.config, self._rows = run_id, f"name-{run_id}", config, history.to_dicts()
        self.summary = {k: v for k, v in self._rows[-1].items() if v is not None}

    def scan_history(self, keys=None):
        return ({k: row[k] for k in keys} for row in self._rows if all(row.get(k) is not None for k in keys))


def fake_wandb(runs: list[FakeRun], calls: list):
    def runs_of(path, filters=None):
        calls.append((path, filters))
        return runs

    return types.SimpleNamespace(Api=lambda: types.SimpleNamespace(runs=runs_of))


def test_export_cli_writes_every_runs_sparse_history_as_one_csv(tmp_path, monkeypatch):
    runs = [FakeRun("a", CONFIG, HISTORY), FakeRun("b", {**CONFIG, "seed": 4}, HISTORY)]
    calls = []
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(runs, calls))
    out = tmp_path / "runs.csv"
    main(["me/proj", "--out", str(out), "--width", "model.d_model", "--params", "n_params", "--seed", "seed",
          "--loss", "val/loss", "--compute", "flops", "--lr", "lr", "--filters", '{"state": "finished"}'])
    assert calls == [("me/proj", {"state": "finished"})]
    table = pl.read_csv(out)
    assert table.columns == ["width", "params", "seed", "step", "loss", "compute", "lr"]
    assert table.select("seed", "step").rows() == [(3, 0), (3, 3), (3, 6), (4, 0), (4, 3), (4, 6)]
    assert table["params"].to_list() == [123456] * 6 and table["compute"].to_list() == [0.0, 3e9, 6e9] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_export_cli_names_the_run_and_key_that_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb([FakeRun("a", CONFIG, HISTORY)], []))
    with pytest.raises(SystemExit, match=r"W&B run a \(name-a\): no history row holds both '_step' and 'flop'"):
        main(["me/proj", "--out", str(tmp_path / "runs.csv"), "--width", "model.d_model", "--params", "n_params",
              "--seed", "seed", "--loss", "val/loss", "--compute", "flop"])
    assert not list(tmp_path.iterdir())


def test_export_cli_without_wandb_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install wandb"):
        main(["me/proj", "--out", str(tmp_path / "runs.csv"), "--width", "w", "--params", "p", "--seed", "s",
              "--loss", "loss", "--tokens", "tokens"])
