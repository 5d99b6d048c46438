-- The dates features are computed as of: the scoring date and the past training cutoffs
-- as_of - H - i * step, each early enough for its label window [cutoff, cutoff + H) to have
-- closed before the scoring date.
-- The scoring date comes from the environment (CLM_AS_OF, set by `clm run --as-of`): dbt then
-- re-parses only this file when the date moves, where a changed --vars re-parses the whole
-- project on every daily run. `--vars '{as_of: ...}'` still overrides it by hand.
{% set as_of = var('as_of', none) or env_var('CLM_AS_OF') %}
select
    cast('{{ as_of }}' as date) as as_of,
    'scoring' as purpose

union all

select
    cast(
        cast('{{ as_of }}' as date)
        - to_days(cast({{ var('horizon_days') }} + i * {{ var('cutoff_step_days') }} as integer))
        as date
    ) as as_of,
    'training' as purpose
from range(0, {{ var('training_cutoffs') }}) as cutoffs(i)
