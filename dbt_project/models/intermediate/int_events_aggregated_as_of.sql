-- Browsing behaviour per customer as of each date, from days strictly before that date.
with spine as (
    select customer_id, as_of from {{ ref('int_customers_spined') }}
),

daily as (
    select * from {{ ref('int_events_aggregated_daily') }}
)

select
    spine.customer_id,
    spine.as_of,
    coalesce(sum(daily.sessions), 0) as sessions,
    coalesce(sum(daily.product_views), 0) as product_views,
    coalesce(sum(daily.add_to_carts), 0) as add_to_carts,
    coalesce(sum(daily.purchases), 0) as purchase_events,
    coalesce(sum(daily.sessions) filter (where daily.event_date >= spine.as_of - interval 30 day), 0) as sessions_last_30d,
    coalesce(sum(daily.sessions) filter (
        where daily.event_date >= spine.as_of - interval 60 day and daily.event_date < spine.as_of - interval 30 day
    ), 0) as sessions_prev_30d
from spine
left join daily
    on daily.customer_id = spine.customer_id
    and daily.event_date < spine.as_of
group by spine.customer_id, spine.as_of
