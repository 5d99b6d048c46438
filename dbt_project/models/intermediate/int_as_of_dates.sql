-- The dates features are computed as of: the scoring date and the past training cutoffs, the
-- first days of the months before it, each early enough for its label window [cutoff, cutoff +
-- H) to have closed by the scoring date: the newest is the first of the month of as_of - H.
-- Cutoffs on a fixed calendar leave the training examples unchanged from one daily run to the
-- next; they change when a month's labels complete (or late data changes old ones), which is
-- when the daily DAG asks for training.
-- The scoring date is decided by clm (ml/run/dates.py) and comes from the environment
-- (CLM_AS_OF): dbt then re-parses only this file when the date moves, where a changed --vars
-- re-parses the whole project on every daily run. `--vars '{as_of: ...}'` gives it by hand.
{% set as_of = var('as_of', none) or env_var('CLM_AS_OF', '') %}
{% if execute and not as_of %}
    {{ exceptions.raise_compiler_error(
        "No scoring date: clm decides it (`clm run --as-of DATE`, or the day after the last valid order). "
        ~ "Running dbt by hand, give it: --vars '{as_of: YYYY-MM-DD}' or CLM_AS_OF=YYYY-MM-DD.") }}
{% endif %}
with scoring_date as (
    select cast('{{ as_of or "1970-01-01" }}' as date) as as_of
),

first_order as (
    select cast(min(ordered_at) as date) as first_order_date from {{ ref('stg_shop__orders') }}
),

newest_cutoff as (
    select
        cast({{ dbt.date_trunc('month', dbt.dateadd('day', -var('horizon_days'), 'scoring_date.as_of')) }} as date) as as_of
    from scoring_date
),

training_cutoffs as (
    {%- for i in range(var('training_cutoffs') or var('max_training_cutoffs')) %}
    select cast({{ dbt.dateadd('month', -i, 'newest_cutoff.as_of') }} as date) as as_of, {{ i }} as i from newest_cutoff
    {{- ' union all' if not loop.last }}
    {%- endfor %}
)

select
    as_of,
    'scoring' as purpose
from scoring_date

union all

-- Stacked cutoffs, newest first: a fixed number (var training_cutoffs), or by default every
-- cutoff after the shop's first order, up to max_training_cutoffs (and at least two: the
-- newest is the holdout).
select
    training_cutoffs.as_of,
    'training' as purpose
from training_cutoffs, first_order
{% if not var('training_cutoffs') %}
where training_cutoffs.as_of > first_order.first_order_date or training_cutoffs.i < 2
{% endif %}
