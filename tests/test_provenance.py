"""Issue 17, cases 15 and 16: results that Snakemake has no metadata of, and data made again, end to end on the tiny
config (src/supercollapse/provenance.py, docs/errors.md).

The tiny config runs once per module; each scenario works on a copy of that tree (file times kept)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from helpers import TINY, copy_project, scheduled_jobs, snakemake, write_config
from supercollapse.codehash import FAMILIES
from supercollapse.provenance import FOLDER, Provenance, differences, serialize, stale_message, unrecorded_message

TRAINING = ("sweep_run", "optimal_run")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    proj = copy_project(tmp_path_factory.mktemp("provenance") / "proj")
    write_config(proj, TINY)
    snakemake(proj, "--cores", "2")
    return proj


def tiny(changes: dict | None = None) -> dict:
    """The tiny config with `changes` (dotted key -> value)."""
    cfg = copy.deepcopy(TINY)
    for path, value in (changes or {}).items():
        *keys, last = path.split(".")
        node = cfg
        for key in keys:
            node = node[key]
        node[last] = value
    return cfg


def scenario(done: Path, tmp_path: Path, metadata: bool = True, changes: dict | None = None) -> Path:
    """A copy of the finished tree, without .snakemake/ unless `metadata`, with the tiny config changed."""
    proj = tmp_path / "proj"
    shutil.copytree(done, proj, symlinks=True)
    if not metadata:
        shutil.rmtree(proj / ".snakemake")
    write_config(proj, tiny(changes))
    return proj


def dry_run_error(proj: Path) -> str:
    out = snakemake(proj, "-n", "--cores", "1", check=False)
    assert out.returncode != 0, out.stdout[-2000:]
    return out.stdout + out.stderr


WIDER = {"tasks.fourier.collapse.widths": [8, 12, 16, 24]}


# Case 15: results copied or restored without .snakemake/

@pytest.mark.slow
def test_results_without_metadata_match_their_records_when_nothing_changed(done, tmp_path):
    """Every rule's record (its params, serialized as Snakemake does, and its inputs) matches the config it was made
    with: no false alarm, no warning."""
    proj = scenario(done, tmp_path, metadata=False)
    assert (proj / "results" / FOLDER / "fourier/optimal/lhat.json.json").exists()
    out = snakemake(proj, "-n", "--cores", "1")
    assert "Nothing to be done" in out.stdout + out.stderr
    assert "have no record" not in out.stdout + out.stderr


@pytest.mark.slow
def test_added_width_without_metadata_fails_before_any_job_then_the_named_rerun_works(done, tmp_path):
    proj = scenario(done, tmp_path, metadata=False, changes=WIDER)
    text = dry_run_error(proj)
    assert "StaleResultsError" in text and "Nothing to be done" not in text
    assert ("results/fourier/optimal/lhat.json (rule fit_lhat): input files added: "
            "results/fourier/optimal/runs/w24.parquet") in text
    assert "results/fourier/optimal/predictions.parquet (rule predict)" in text
    assert not (proj / "results/fourier/optimal/runs/w24.parquet").exists()
    assert not (proj / "results/logs/fourier/optimal/w24.log").exists()
    # The command the message gives reruns what the metadata would have: the new width and what reads the runs.
    command = next(line for line in text.splitlines() if "--forcerun" in line and line.startswith("Rerun"))
    files = command.split("--forcerun", 1)[1].split()
    jobs = scheduled_jobs(proj, "--forcerun", *files)
    assert jobs == {"optimal_run": 1, "fit_lhat": 1, "collapse_stats": 1, "plot_curves": 1, "plot_collapse": 1,
                    "plot_deviation": 1, "study_summary": 1, "plot_studies": 1, "predict": 1, "plot_prediction": 1,
                    "summary_table": 1, "all": 1}
    # Run it: the records follow the results, so without .snakemake/ again nothing is stale.
    snakemake(proj, "--cores", "2", "--forcerun", *files)
    record = (proj / "results" / FOLDER / "fourier/optimal/lhat.json.json").read_text()
    assert "results/fourier/optimal/runs/w24.parquet" in record
    shutil.rmtree(proj / ".snakemake")
    assert scheduled_jobs(proj) == {}


@pytest.mark.slow
def test_changed_params_without_metadata_name_the_result_rule_and_key(done, tmp_path):
    proj = scenario(done, tmp_path, metadata=False, changes={"analysis.lhat_bootstrap": 12,
                                                             "tasks.fourier.sweep.steps_by_width": {24: 1700}})
    text = dry_run_error(proj)
    assert "results/fourier/optimal/lhat.json (rule fit_lhat): param 'n_boot' changed: 10 -> 12" in text
    assert "results/fourier/sweep/w24.parquet (rule sweep_run): param 'sweep' changed: steps: 1600 -> 1700" in text
    assert "and 1 more result(s) were made from other params or input files" in text


@pytest.mark.slow
def test_results_with_no_record_anywhere_are_taken_as_they_are_with_a_warning(done, tmp_path):
    proj = scenario(done, tmp_path, metadata=False, changes=WIDER)
    shutil.rmtree(proj / "results" / FOLDER)
    out = snakemake(proj, "-n", "--cores", "1")
    text = out.stdout + out.stderr
    assert "Nothing to be done" in text
    assert "have no record of the params and input files that made them" in text


# Case 16: a data artifact deleted, then made again

@pytest.mark.slow
def test_deleted_meta_json_is_made_again_at_once_and_retrains_nothing(done, tmp_path):
    proj = scenario(done, tmp_path)
    (proj / "results/fourier/data/meta.json").unlink()
    jobs = scheduled_jobs(proj)
    assert jobs["make_task"] == 1 and not set(TRAINING) & jobs.keys()
    write_config(proj, tiny(WIDER))
    jobs = scheduled_jobs(proj)
    assert jobs["make_task"] == 1 and jobs["optimal_run"] == 1 and "sweep_run" not in jobs
    # Made again (target and eval too, newer than every run): identical, so nothing reruns.
    write_config(proj, TINY)
    snakemake(proj, "--cores", "1", "results/fourier/data/meta.json")
    assert scheduled_jobs(proj) == {}


# The pieces, without Snakemake runs

def _files(family: str) -> set[Path]:
    pkg = Path(__file__).resolve().parents[1] / "src" / "supercollapse"
    out = set()
    for entry in FAMILIES[family]:
        path = pkg / entry
        out |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return out


def test_fourier_data_code_is_part_of_the_training_hash():
    """A Fourier task's data inputs are ancient to its training jobs (rules/common.smk task_data): sound only while
    every module that makes the data is hashed into the training jobs' params."""
    assert _files("data") <= _files("train")


@pytest.mark.parametrize("value", [None, 3, 0.001, "abc", [1, "a"], (1, 2), {"a": {"b": [1.5]}}, {1, 2}, b"x",
                                   object()])
def test_params_serialize_as_snakemake_records_them(value):
    from snakemake.persistence import UNREPRESENTABLE, PersistenceBase

    theirs = PersistenceBase._serialize_param_builtin(None, value)
    assert serialize(value) == (None if theirs is UNREPRESENTABLE else theirs)


def test_differences_name_inputs_and_params():
    record = {"input": ["a", "b"], "params": sorted(["1", "{'steps': 10, 'seeds': 2}"])}
    assert differences(record, ["a", "b"], {"n": "1", "sweep": "{'steps': 10, 'seeds': 2}"}) == []
    assert differences(record, ["a", "c"], {"n": "1", "sweep": "{'steps': 12, 'seeds': 2}"}) == [
        "input files added: c", "input files no longer used: b", "param 'sweep' changed: steps: 10 -> 12"]
    assert differences(record, ["a", "b"], {"n": "2", "m": "3", "sweep": "{'steps': 10, 'seeds': 2}"}) == [
        "params changed: 'n', 'm'"]


def test_records_live_under_the_results_folder_only():
    p = Provenance(workflow=None, results="results")
    record = Path("results/provenance/fourier/optimal/lhat.json.json")
    assert p.record_path("results/fourier/optimal/lhat.json") == record
    assert p.record_path("downloads/lichess/x.parquet.manifest.json") is None
    assert p.record_path(f"results/{FOLDER}/x.json") is None


def test_messages_name_one_result_or_count_the_rest():
    one = stale_message([("results/a.json", "fit_lhat", ["param 'n_boot' changed: 10 -> 12"])], "results")
    assert one.splitlines()[0].startswith("results/a.json (rule fit_lhat) was made from other params")
    assert "--forcerun results/a.json" in one
    two = unrecorded_message([("results/b.json", "r", []), ("results/a.json", "r", [])], "results")
    assert two.startswith("results/a.json (rule r) and 1 more result(s) have no record")
