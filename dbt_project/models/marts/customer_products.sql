-- What each customer bought before the scoring date, one row per customer and product: how
-- often, how often in the last H days, first and last time. Kept orders only. The
-- recommendations learn from it (ml/actions/recommendations.py; the last H days are their time-split test).
{% set horizon = var('horizon_days') %}
with scoring_date as (
    select as_of from {{ ref('int_as_of_dates') }} where purpose = 'scoring'
),

lines as (
    select
        cast(orders.customer_id as string) as customer_id,
        items.product_id,
        orders.ordered_at,
        scoring_date.as_of
    from {{ ref('int_orders_enriched') }} as orders
    inner join {{ ref('stg_shop__order_items') }} as items on items.order_id = orders.order_id
    cross join scoring_date
    where not orders.is_cancelled and orders.ordered_at < cast(scoring_date.as_of as timestamp)
)

select
    customer_id,
    product_id,
    as_of,
    count(*) as purchases,
    count(*) filter (
        where ordered_at >= {{ dbt.dateadd('day', -horizon, 'cast(as_of as timestamp)') }}
    ) as purchases_last_horizon,
    min(ordered_at) as first_purchased_at,
    max(ordered_at) as last_purchased_at
from lines
group by customer_id, product_id, as_of
