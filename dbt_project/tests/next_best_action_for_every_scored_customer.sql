-- Every customer scored on the latest date has exactly one action that date. Rows returned:
-- scored customers with no action, or with more than one.
with scored as (
    select customer_id, as_of from {{ ref('customer_scores') }}
    where as_of = (select max(as_of) from {{ ref('customer_scores') }})
),

actions as (
    select customer_id, as_of, count(*) as actions
    from {{ ref('next_best_action') }}
    group by customer_id, as_of
)

select scored.customer_id, scored.as_of, coalesce(actions.actions, 0) as actions
from scored
left join actions on actions.customer_id = scored.customer_id and actions.as_of = scored.as_of
where coalesce(actions.actions, 0) <> 1
