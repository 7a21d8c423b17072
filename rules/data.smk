# The data rules: the Fourier task, downloads, tokenization.


rule make_task:
    """Materialise the Fourier task: target function, fixed evaluation set, meta.json."""
    output:
        target=f"{R}/{{task}}/data/target.parquet",
        evalset=f"{R}/{{task}}/data/eval.parquet",
        meta=f"{R}/{{task}}/data/meta.json",
    log:
        f"{R}/logs/{{task}}/make_task.log",
    wildcard_constraints:
        task=task_pattern("fourier_mlp"),
    conda:
        ENV
    params:
        data=lambda w: task_cfg(w.task)["data"],
        code=code_hash("data"),
    script:
        "../workflow/scripts/make_task.py"


rule download_lichess:
    """One Lichess shard (Hugging Face Lichess/standard-chess-games), resumable and verified. The output is
    the manifest; the shard lies beside it."""
    output:
        manifest=f"{DL}/lichess/year={{year}}/month={{month}}/train-{{shard}}-of-{{nshards}}.parquet.manifest.json",
    log:
        f"{DL}/logs/lichess-{{year}}-{{month}}-{{shard}}-of-{{nshards}}.log",
    wildcard_constraints:
        year=r"\d{4}",
        month=r"\d{2}",
        shard=r"\d{5}",
        nshards=r"\d{5}",
    conda:
        ENV
    params:
        url=lambda w: (
            f"{config['download']['lichess_base_url']}/year={w.year}/month={w.month}/"
            f"train-{w.shard}-of-{w.nshards}.parquet"
        ),
        sha256=lambda w, output: download_checksum(output.manifest.removesuffix(".manifest.json")),
        kind="lichess",
        timeout=config["download"]["timeout_s"],
        retries=config["download"]["retries"],
        allow_redirect_hosts=config["download"]["allow_redirect_hosts"],
        allow_insecure_redirects=config["download"]["allow_insecure_redirects"],
    script:
        "../workflow/scripts/download.py"


rule download_cifar5m:
    """One CIFAR-5M part (stored as cifar5m_part{i}.npz), resumable and verified. The output is the
    manifest; the npz lies beside it."""
    output:
        manifest=f"{DL}/cifar5m/cifar5m_part{{part}}.npz.manifest.json",
    log:
        f"{DL}/logs/cifar5m-part{{part}}.log",
    wildcard_constraints:
        part=r"[0-5]",
    conda:
        ENV
    params:
        url=lambda w: f"{config['download']['cifar5m_base_url']}/part{w.part}.npz",
        sha256=lambda w, output: download_checksum(output.manifest.removesuffix(".manifest.json")),
        kind="cifar5m",
        timeout=config["download"]["timeout_s"],
        retries=config["download"]["retries"],
        allow_redirect_hosts=config["download"]["allow_redirect_hosts"],
        allow_insecure_redirects=config["download"]["allow_insecure_redirects"],
    script:
        "../workflow/scripts/download.py"


rule tokenize:
    """A transformer task's token contract: train.parquet, test.parquet (rows of seq_len ids), meta.json."""
    input:
        raw_manifests,
    output:
        train=f"{R}/{{task}}/data/train.parquet",
        test=f"{R}/{{task}}/data/test.parquet",
        meta=f"{R}/{{task}}/data/meta.json",
    log:
        f"{R}/logs/{{task}}/tokenize.log",
    wildcard_constraints:
        task=task_pattern("transformer"),
    conda:
        ENV
    threads: tokenize_threads()
    params:
        data=lambda w: task_cfg(w.task)["data"],
        raw=lambda w: raw_files(task_cfg(w.task)["data"], DL),
        code=code_hash("tokens"),
    script:
        "../workflow/scripts/tokenize.py"
