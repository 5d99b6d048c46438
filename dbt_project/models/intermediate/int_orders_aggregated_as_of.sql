-- Order behaviour per customer as of each date, from orders strictly before that date.
with spine as (
    select customer_id, as_of from {{ ref('int_customers_spined') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
)

select
    spine.customer_id,
    spine.as_of,
    count(orders.order_id) filter (where not orders.is_cancelled) as frequency,
    coalesce(sum(orders.amount) filter (where not orders.is_cancelled), 0) as monetary,
    min(orders.ordered_at) filter (where not orders.is_cancelled) as first_order_at,
    max(orders.ordered_at) filter (where not orders.is_cancelled) as last_order_at,
    arg_max(orders.days_since_previous_order, orders.ordered_at) filter (where not orders.is_cancelled)
        as last_order_gap_days,
    avg(orders.days_since_previous_order) as mean_interpurchase_days,
    stddev_samp(orders.days_since_previous_order) as std_interpurchase_days,
    avg(orders.items) filter (where not orders.is_cancelled) as avg_items_per_order,
    sum(orders.discount_amount) filter (where not orders.is_cancelled)
        / nullif(sum(orders.gross_amount) filter (where not orders.is_cancelled), 0) as discount_share,
    count(orders.order_id) filter (where orders.is_cancelled) / nullif(count(orders.order_id), 0) as cancel_rate,
    count(orders.order_id) filter (where orders.is_returned) / nullif(count(orders.order_id), 0) as return_rate,
    count(orders.order_id) filter (
        where not orders.is_cancelled and orders.ordered_at >= spine.as_of - interval 30 day
    ) as orders_last_30d,
    count(orders.order_id) filter (
        where not orders.is_cancelled
            and orders.ordered_at >= spine.as_of - interval 60 day
            and orders.ordered_at < spine.as_of - interval 30 day
    ) as orders_prev_30d,
    coalesce(sum(orders.amount) filter (
        where not orders.is_cancelled and orders.ordered_at >= spine.as_of - interval 30 day
    ), 0) as spend_last_30d,
    coalesce(sum(orders.amount) filter (
        where not orders.is_cancelled
            and orders.ordered_at >= spine.as_of - interval 60 day
            and orders.ordered_at < spine.as_of - interval 30 day
    ), 0) as spend_prev_30d
from spine
left join orders
    on orders.customer_id = spine.customer_id
    and orders.ordered_at < spine.as_of
group by spine.customer_id, spine.as_of
