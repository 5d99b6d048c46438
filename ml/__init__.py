"""clm's importable package, in five wings over three shared modules.

    settings, progress, runstatus   used by every wing but models
    data/      getting a shop's data in and building it: contract, ingest, warehouse, dbt, GX
    models/    what a logged model needs to load and predict, and nothing else
    training/  fitting, judging, logging and registering every model family
    actions/   what the CRM team gets from a champion: scores, reasons, recommendations
    run/       the pipeline's steps, the DAGs' tasks, the `clm` command and its UIs

Imports go down only: run, training, actions, then data and models, which ignore each other
(the contracts in pyproject.toml, checked by `make check`).
"""
