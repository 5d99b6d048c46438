-- Browsing behaviour per customer as of each date, from days strictly before that date.
-- Each session-day is summed once into its period between as-of dates (int_as_of_periods); a
-- date then adds up the few periods before it instead of re-reading every day once per as-of
-- date (docs/decisions/0012-feature-sums-per-period.md). The 30-day trend windows read only the
-- days near a date.
with periods as (
    select * from {{ ref('int_as_of_periods') }}
),

daily as (
    -- One row per customer, day and session.
    select * from {{ ref('int_events_aggregated_daily') }}
),

per_period as (
    select
        cast(daily.customer_id as string) as customer_id,
        periods.as_of as period_end,
        count(*) as sessions,
        sum(daily.product_views) as product_views,
        sum(daily.add_to_carts) as add_to_carts,
        sum(daily.purchases) as purchases
    from daily
    inner join periods
        on daily.event_date >= periods.period_start
        and daily.event_date < periods.as_of
    group by daily.customer_id, periods.as_of
),

cumulative as (
    select
        spine.customer_id,
        spine.as_of,
        coalesce(sum(per_period.sessions), 0) as sessions,
        coalesce(sum(per_period.product_views), 0) as product_views,
        coalesce(sum(per_period.add_to_carts), 0) as add_to_carts,
        coalesce(sum(per_period.purchases), 0) as purchase_events
    from {{ ref('int_customers_spined') }} as spine
    left join per_period
        on per_period.customer_id = spine.customer_id
        and per_period.period_end <= spine.as_of
    group by spine.customer_id, spine.as_of
),

recent as (
    select
        cast(daily.customer_id as string) as customer_id,
        periods.as_of,
        count(*) filter (where daily.event_date >= periods.last_30d_start) as sessions_last_30d,
        count(*) filter (where daily.event_date < periods.last_30d_start) as sessions_prev_30d
    from daily
    inner join periods
        on daily.event_date >= periods.prev_30d_start
        and daily.event_date < periods.as_of
    group by daily.customer_id, periods.as_of
)

select
    cumulative.*,
    coalesce(recent.sessions_last_30d, 0) as sessions_last_30d,
    coalesce(recent.sessions_prev_30d, 0) as sessions_prev_30d
from cumulative
left join recent
    on recent.customer_id = cumulative.customer_id
    and recent.as_of = cumulative.as_of
