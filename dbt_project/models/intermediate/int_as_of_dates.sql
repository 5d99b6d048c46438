-- The dates features are computed as of: the scoring date (var as_of) and the past training
-- cutoffs as_of - H - i * step, each early enough for its label window [cutoff, cutoff + H)
-- to have closed before the scoring date.
select
    cast('{{ var("as_of") }}' as date) as as_of,
    'scoring' as purpose

union all

select
    cast(
        cast('{{ var("as_of") }}' as date)
        - to_days(cast({{ var('horizon_days') }} + i * {{ var('cutoff_step_days') }} as integer))
        as date
    ) as as_of,
    'training' as purpose
from range(0, {{ var('training_cutoffs') }}) as cutoffs(i)
