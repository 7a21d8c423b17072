"""What made each result, kept with the results (issue 17): results copied or restored without `.snakemake/` (or
with its metadata deleted) are checked against the config and code before any job, instead of trusted silently.

Snakemake decides what to rerun from file times and from its metadata (`.snakemake/metadata`: each output's rule,
params and input files). Without that metadata a changed param, or a changed set of input files (a collapse width
added), reruns nothing: Snakemake says "Nothing to be done" over stale results. So the workflow keeps a copy of each
output's record, `<results>/provenance/<path under results>.json`, taken from Snakemake's own record while it plans a
run and when the run ends: it travels with the results. Before any job, each job whose outputs all exist but which
Snakemake has no record of is compared with that copy the way Snakemake compares its own record: the params that are
rerun triggers (those not derived from files), and the list of input files. A difference stops the workflow (a dry
run too), naming every such result, what changed and the command that reruns them; a result with no record anywhere
(made before this check, or copied without its record) is taken as it is, with a warning.

Only the Snakefile imports this module (it runs in Snakemake's process, never in a job), so it is in no code family.
"""

from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path

from .io import read_json, write_json

FOLDER = "provenance"  # under the results folder
# Snakemake's metadata record format whose params `serialize` writes the same way (Snakemake 9: format 6).
RECORD_FORMAT = 6
KEYS = ("rule", "input", "params", "record_format_version")
# A params function taking one of these is derived from the job's files, and no rerun trigger (Snakemake's rule).
DERIVING = frozenset({"input", "output", "threads", "resources"})
BUILTIN = (int, float, bool, str, complex, range, list, tuple, dict, set, frozenset, bytes, bytearray)


class StaleResultsError(Exception):
    """Results made from other params or inputs than the config gives, which Snakemake would not remake."""


def serialize(value) -> str | None:
    """A param as Snakemake's metadata records it (its repr), or None where Snakemake records nothing."""
    if type(value).__module__.startswith("pandas"):
        import pandas as pd

        if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
            return repr(pd.util.hash_pandas_object(value).tolist())
    return repr(value) if value is None or isinstance(value, BUILTIN) else None


def trigger_params(rule, wildcards: dict) -> dict[str, str]:
    """The params of `rule`'s job with these wildcards that are rerun triggers, name -> serialized value: what
    Snakemake records as `params` (values only, sorted) in its metadata."""
    from snakemake.io import apply_wildcards
    from snakemake.iocontainers import Wildcards

    out = {}
    for i, (name, item) in enumerate(rule.params._allitems()):
        if callable(item):
            if DERIVING & set(inspect.signature(item).parameters):
                continue
            value = item(Wildcards(fromdict=wildcards))
        elif isinstance(item, str):
            value = apply_wildcards(item, wildcards)
        elif isinstance(item, list):
            value = [apply_wildcards(v, wildcards) if isinstance(v, str) else v for v in item]
        else:
            value = item
        text = serialize(value)
        if text is not None:
            out[name or f"#{i}"] = text
    return out


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dict_diff(old: str, new: str) -> str | None:
    """`key: old -> new` for the keys two dict reprs differ in, where both are literals."""
    try:
        a, b = ast.literal_eval(old), ast.literal_eval(new)
    except (ValueError, SyntaxError):
        return None
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return None
    keys = [k for k in {**a, **b} if a.get(k, "<none>") != b.get(k, "<none>")]
    return ", ".join(f"{k}: {_short(repr(a.get(k, '<none>')), 60)} -> {_short(repr(b.get(k, '<none>')), 60)}"
                     for k in keys)


def differences(record: dict, inputs: list[str], params: dict[str, str]) -> list[str]:
    """What differs between a recorded job (Snakemake's record: sorted inputs, sorted param values) and the job the
    config gives now (its inputs, its trigger params by name); empty when it would not rerun."""
    out = []
    added, removed = sorted(set(inputs) - set(record["input"])), sorted(set(record["input"]) - set(inputs))
    if added:
        out.append("input files added: " + ", ".join(added))
    if removed:
        out.append("input files no longer used: " + ", ".join(removed))
    old = set(record["params"])
    changed, gone = [name for name, text in params.items() if text not in old], sorted(old - set(params.values()))
    if len(changed) == 1 and len(gone) == 1:
        detail = _dict_diff(gone[0], params[changed[0]])
        out.append(f"param {changed[0]!r} changed: " + (detail or f"{_short(gone[0])} -> {_short(params[changed[0]])}"))
    elif changed or gone:
        out.append(f"params changed: {', '.join(map(repr, changed)) or '(one removed)'}")
    return out


class Provenance:
    """The check and the record of one workflow run (the Snakefile makes one and calls `install` and `sync`)."""

    def __init__(self, workflow, results: str):
        self.workflow = workflow
        self.results = os.path.normpath(results)
        self.seen: dict[tuple[str, ...], None] = {}  # the outputs of every job planned in this process, in order
        self.surveyed = False

    # Where records live
    def record_path(self, output: str) -> Path | None:
        """The copy of an output's record, or None for an output outside the results folder (downloads)."""
        rel = os.path.relpath(os.path.normpath(output), self.results)
        if rel == os.curdir or rel.split(os.sep)[0] in (os.pardir, FOLDER) or os.path.isabs(rel):
            return None
        return Path(self.results) / FOLDER / f"{rel}.json"

    def read_record(self, output: str) -> dict | None:
        path = self.record_path(output)
        if path is None or not path.exists():
            return None
        try:
            record = read_json(path)
        except ValueError:
            return None  # unreadable: as if there were none
        return record if isinstance(record, dict) and set(KEYS) <= record.keys() else None

    def snakemake_record(self, output: str):
        from snakemake.io import IOFile

        return self.workflow.persistence.metadata(IOFile(output))

    def keep(self, output: str) -> None:
        """Copy Snakemake's record of `output` (a complete one) to its record path, where it differs; with no output,
        remove the copy."""
        path = self.record_path(output)
        if path is None:
            return
        if not os.path.exists(output):
            path.unlink(missing_ok=True)
            return
        record = self.snakemake_record(output)
        if record is None or record.incomplete:
            return
        data = {key: record[key] for key in KEYS}
        if self.read_record(output) != data:
            write_json(path, data)

    # Hooks
    def install(self) -> None:
        """Add the check to every rule with outputs, as a params function of its output files: Snakemake evaluates
        every job's params while it builds the DAG, before it schedules anything (in a dry run too). Derived from
        the output files, the param is no rerun trigger: adding it reruns nothing."""
        for rule in self.workflow.rules:
            if rule.output:
                rule.set_params(provenance=self._hook(rule))

    def _hook(self, rule):
        def provenance(wildcards, input, output):
            self.see(rule, dict(wildcards.items()), [str(f) for f in input], tuple(str(f) for f in output))

        return provenance

    def active(self) -> bool:
        """A run or a dry run in Snakemake's own process, on local files (not --report or --dag, not a job's process
        on a cluster, not a default storage provider)."""
        wf = self.workflow
        storage = getattr(wf.storage_settings, "default_storage_provider", None)
        return wf.executor_plugin is not None and wf.exec_mode.name == "DEFAULT" and storage is None

    def see(self, rule, wildcards: dict, inputs: list[str], outputs: tuple[str, ...]) -> None:
        if not self.active():
            return
        self.seen[outputs] = None
        if not self.workflow.dryrun:
            for output in outputs:
                self.keep(output)
        state = self.state(rule, wildcards, inputs, outputs)
        if state is not None and (state[0] == "stale" or not self.surveyed):
            self.survey(rule.name, outputs, state)

    def sync(self) -> None:
        """At the end of a run (onsuccess, onerror): the records of every planned job's outputs, as Snakemake now has
        them."""
        if self.active():
            for outputs in self.seen:
                for output in outputs:
                    self.keep(output)

    # The check
    def forced(self, rule, outputs) -> bool:
        dag = self.workflow.dag
        return rule in dag.forcerules or not dag.forcefiles.isdisjoint(outputs)

    def state(self, rule, wildcards, inputs, outputs) -> tuple[str, list[str]] | None:
        """None where Snakemake decides by itself (an output missing, its metadata present, the job forced) or the
        job matches its record; ("stale", what differs); ("unrecorded", [])."""
        if not outputs or self.forced(rule, outputs) or not all(os.path.exists(o) for o in outputs):
            return None
        unknown = [o for o in outputs if self.snakemake_record(o) is None]
        if not unknown or self.record_path(unknown[0]) is None:
            return None  # Snakemake decides; or a download (outside the results), which its checksum verifies
        record = self.read_record(unknown[0])
        if record is None or record["record_format_version"] != RECORD_FORMAT:
            return "unrecorded", []
        changes = differences(record, sorted(inputs), trigger_params(rule, wildcards))
        return ("stale", changes) if changes else None

    def survey(self, rule: str, outputs: tuple[str, ...], state: tuple[str, list[str]]) -> None:
        """Every job of the DAG at once (and this one), so that one message names every stale result: raise if any is
        stale, else warn once of those with no record."""
        from snakemake.logging import logger

        self.surveyed = True
        found = {"stale": [], "unrecorded": []}
        found[state[0]].append((outputs[0], rule, state[1]))
        for job in list(self.workflow.dag.jobs):
            job_outputs = tuple(str(f) for f in job.output)
            if not job_outputs or job_outputs[0] == outputs[0]:
                continue
            job_state = self.state(job.rule, dict(job.wildcards_dict), [str(f) for f in job.input], job_outputs)
            if job_state is not None:
                found[job_state[0]].append((job_outputs[0], job.rule.name, job_state[1]))
        if found["stale"]:
            raise StaleResultsError(stale_message(found["stale"], self.results))
        if found["unrecorded"]:
            logger.warning(unrecorded_message(found["unrecorded"], self.results))


def stale_message(stale: list[tuple[str, str, list[str]]], results: str) -> str:
    stale = sorted(stale)
    first, rule, _ = stale[0]
    n = len(stale)
    more, were, them = ("", "was", "it") if n == 1 else (f" and {n - 1} more result(s)", "were", "them")
    lines = [f"{first} (rule {rule}){more} {were} made from other params or input files than the config and code now "
             f"give, and Snakemake has no record of {them} (.snakemake/metadata), so it would not remake {them}:"]
    lines += [f"  {output} (rule {rule}): {'; '.join(changes)}" for output, rule, changes in stale]
    lines += [f"Rerun them and what is made from them: snakemake --cores all --forcerun "
              f"{' '.join(output for output, _, _ in stale)}",
              f"(or, to keep them as they are, unchecked, delete their records under {results}/{FOLDER}/)"]
    return "\n".join(lines)


def unrecorded_message(unrecorded: list[tuple[str, str, list[str]]], results: str) -> str:
    unrecorded = sorted(unrecorded)
    first, rule, _ = unrecorded[0]
    more = f" and {len(unrecorded) - 1} more result(s) have" if len(unrecorded) > 1 else " has"
    return (f"{first} (rule {rule}){more} no record of the params and input files that made them, neither in "
            f".snakemake/metadata nor under {results}/{FOLDER}/: taken as up to date. If the config or code changed "
            "since they were made, rerun them with --forcerun")
