"""TensorBoard event files as one table, one row per (run, step): the TensorBoard route into the external contract.

Events are read with TensorBoard's own reader (`EventAccumulator`, the format's reference implementation),
keeping every scalar event rather than its default reservoir sample of 10,000 per tag. A run is what TensorBoard
calls one: a directory that directly holds event files. Run-level integers (width, seed, params) come from the
run's name through a pattern like "w{width}_s{seed}", or from a mapping run name -> {field: int}.

Values are float32 in the file (TensorBoard stores scalars as float32) and float64 in the table.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import polars as pl

RUN_FIELD = r"\d+"  # run_pattern fields hold non-negative integers


def read_tensorboard(
    path: str | os.PathLike, *, run_pattern: str | None = None, runs: dict[str, dict] | None = None
) -> pl.DataFrame:
    """Every scalar of the runs under `path` (an event file, or a directory searched recursively).

    Columns: `run` (the run's directory relative to `path`, "." for `path` itself; the directory's name when
    `path` is a file), the run fields (int64, from `run_pattern` matched in full against the run's name and/or
    `runs`, whose values win), `step` (int64), then one float64 column per scalar tag, named by the tag, null at
    steps where the tag was not logged. Several event files in one directory are one run (a resumed job): at
    equal (tag, step) the event with the later wall time wins. Sorted by run, step.
    """
    path = Path(path)
    tb = _tensorboard_modules(path)
    files = find_runs(path, tb.io_wrapper.IsSummaryEventsFile)
    regex = run_name_regex(run_pattern) if run_pattern is not None else None
    runs = {str(name): fields for name, fields in (runs or {}).items()}  # YAML reads a run named 8 as an int
    unknown = sorted(set(runs) - set(files))
    if unknown:
        raise ValueError(f"{path}: runs {unknown} given in `runs` hold no event files; the runs found are "
                         f"{sorted(files)}")
    fields = {name: run_fields(name, regex, run_pattern, runs, where=path / name if path.is_dir() else path.parent)
              for name in files}
    field_names = list(dict.fromkeys(f for run in fields.values() for f in run))
    tables = []
    for name, run_files in files.items():
        table = run_table([event for file in run_files for event in scalar_events(file, tb)])
        clash = sorted({"run", *field_names} & set(table.columns))
        if clash:
            raise ValueError(f"run {name!r}: scalar tag(s) {clash} have the name of a run field or 'run'; rename "
                             "the tag or the field")
        tables.append(table.select(pl.lit(name).alias("run"),
                                   *(pl.lit(v, pl.Int64).alias(k) for k, v in fields[name].items()), pl.all()))
    table = pl.concat(tables, how="diagonal")
    tags = sorted(set(table.columns) - {"run", "step", *field_names})
    return table.select("run", *field_names, "step", *tags).sort("run", "step")


def find_runs(path: Path, is_event_file) -> dict[str, list[Path]]:
    """Run name -> its event files (sorted by name, which starts with the writer's start time)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory (expected TensorBoard event files)")
    if path.is_file():
        if not is_event_file(str(path)):
            raise ValueError(f"{path}: not a TensorBoard event file (the name lacks 'tfevents')")
        return {path.resolve().parent.name: [path]}
    found = {}
    for folder, _, names in os.walk(path):
        events = sorted(Path(folder) / n for n in names if is_event_file(os.path.join(folder, n)))
        if events:
            found[Path(folder).relative_to(path).as_posix()] = events
    if not found:
        raise ValueError(f"{path}: no TensorBoard event files (events.out.tfevents.*) in it or below it")
    return dict(sorted(found.items()))


def run_name_regex(pattern: str) -> re.Pattern:
    """`pattern` ("w{width}_s{seed}") as a regex with one named integer group per field."""
    parts, fields, after_field = [], [], False
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise ValueError(f"run_pattern {pattern!r}: {err} (a field is {{name}}; {{{{ is a literal brace)") from None
    for literal, field, spec, conversion in parsed:
        if after_field and not literal and field is not None:
            raise ValueError(f"run_pattern {pattern!r}: fields must be separated by text, or where one ends is "
                             "ambiguous")
        parts.append(re.escape(literal))
        after_field = field is not None
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"run_pattern {pattern!r}: a field is {{name}} with name an identifier, got "
                             f"{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}")
        if field in fields:
            raise ValueError(f"run_pattern {pattern!r}: field {{{field}}} appears twice")
        fields.append(field)
        parts.append(f"(?P<{field}>{RUN_FIELD})")
    return re.compile("".join(parts))


def run_fields(
    name: str, regex: re.Pattern | None, pattern: str | None, runs: Mapping[str, Mapping], *, where: Path
) -> dict[str, int]:
    """The run's integer fields: the pattern's, overridden by its entry in `runs`."""
    fields: dict[str, int] = {}
    if regex is not None:
        match = regex.fullmatch(name)
        if match is None:
            raise ValueError(f"{where}: run {name!r} does not match run_pattern {pattern!r} (fields are "
                             "non-negative integers); rename the folder, or give its fields in `runs`")
        fields = {k: int(v) for k, v in match.groupdict().items()}
    elif name not in runs:
        raise ValueError(f"{where}: run {name!r} is not in `runs` and there is no run_pattern to read its "
                         "fields from its name")
    entry = runs.get(name, {})
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: runs[{name!r}] must map field names to integers, got {entry!r}")
    for field, value in entry.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where}: runs[{name!r}][{field!r}] must be an integer, got {value!r}")
        fields[field] = value
    return fields


def scalar_events(file: Path, tb) -> list[tuple[str, int, float, float]]:
    """(tag, step, wall_time, value) of every scalar in one event file; a tag's events in file order.

    Scalars are `simple_value` summaries (tensorboardX, torch.utils.tensorboard, TF1) or rank-0 tensors of the
    scalars plugin (TF2 `tf.summary.scalar`, and the writers built on it: flax, clu)."""
    ea = tb.event_accumulator
    # 0 keeps every event; purging on restarts is left to run_table's rule (later wall time wins).
    acc = ea.EventAccumulator(str(file), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0}, purge_orphaned_data=False)
    acc.Reload()
    tags = acc.Tags()
    events = [(tag, e.step, e.wall_time, e.value) for tag in tags[ea.SCALARS] for e in acc.Scalars(tag)]
    scalar_tensors = set(tags[ea.TENSORS]) & set(_plugin_tags(acc, "scalars"))
    events += [(tag, e.step, e.wall_time, float(tb.tensor_util.make_ndarray(e.tensor_proto).item()))
               for tag in sorted(scalar_tensors) for e in acc.Tensors(tag)]
    if not events:
        raise ValueError(f"{file}: no scalar events in this TensorBoard event file")
    return events


def _plugin_tags(acc, plugin: str) -> dict:
    try:
        return acc.PluginTagToContent(plugin)
    except KeyError:  # no summary of that plugin in the file
        return {}


def run_table(events: list[tuple[str, int, float, float]]) -> pl.DataFrame:
    """One run's events as step + one float64 column per tag; at equal (tag, step) the later wall time wins
    (ties: the later event in `events`)."""
    long = pl.DataFrame(events, schema={"tag": pl.String, "step": pl.Int64, "wall_time": pl.Float64,
                                        "value": pl.Float64}, orient="row")
    latest = (long.with_row_index("order").sort("wall_time", "order")
              .unique(["tag", "step"], keep="last", maintain_order=True))
    return latest.pivot(on="tag", index="step", values="value", sort_columns=True).sort("step")


def _tensorboard_modules(path: Path) -> SimpleNamespace:
    try:
        from tensorboard.backend.event_processing import event_accumulator, io_wrapper
        from tensorboard.util import tensor_util
    except ImportError:
        raise ModuleNotFoundError(f"reading TensorBoard runs ({path}) needs TensorBoard's event reader: "
                                  "pip install tensorboard (or supercollapse[external])") from None
    return SimpleNamespace(event_accumulator=event_accumulator, io_wrapper=io_wrapper, tensor_util=tensor_util)
