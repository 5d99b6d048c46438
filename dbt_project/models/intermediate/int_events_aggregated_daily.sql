-- Clickstream rolled up to one row per customer and day: the grain every as-of date reuses,
-- so events are scanned once however many cutoffs a run computes.
select
    customer_id,
    cast(occurred_at as date) as event_date,
    count(distinct session_id) as sessions,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases
from {{ ref('stg_shop__events') }}
group by customer_id, cast(occurred_at as date)
