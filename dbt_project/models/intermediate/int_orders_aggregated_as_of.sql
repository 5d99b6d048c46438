-- Order behaviour per customer as of each date, from orders strictly before that date.
-- Orders are summed once per period between as-of dates (int_as_of_periods), then each date
-- adds up the periods before it; the spread of inter-purchase times comes from the sums of the
-- gaps and of their squares. A median does not add up period by period: the median gap joins
-- each date to the gaps before it (orders with a previous order only, times the few dates).
-- The 30-day trend windows read only the orders near each date.
with orders as (
    select *, not is_cancelled as is_kept from {{ ref('int_orders_enriched') }}
),

per_period as (
    select
        orders.customer_id,
        periods.as_of as period_end,
        count(*) as orders,
        count(*) filter (where orders.is_cancelled) as cancelled_orders,
        count(*) filter (where orders.is_returned) as returned_orders,
        count(*) filter (where orders.is_kept) as kept_orders,
        sum(orders.amount) filter (where orders.is_kept) as kept_amount,
        min(orders.ordered_at) filter (where orders.is_kept) as first_order_at,
        max(orders.ordered_at) filter (where orders.is_kept) as last_order_at,
        max_by(orders.days_since_previous_order, orders.ordered_at) filter (where orders.is_kept)
            as last_order_gap_days,
        count(orders.days_since_previous_order) as gaps,
        sum(orders.days_since_previous_order) as gap_sum,
        sum(orders.days_since_previous_order * orders.days_since_previous_order) as gap_square_sum,
        sum(orders.items) filter (where orders.is_kept) as items,
        count(orders.items) filter (where orders.is_kept) as orders_with_items,
        sum(orders.discount_amount) filter (where orders.is_kept) as discount_amount,
        sum(orders.gross_amount) filter (where orders.is_kept) as gross_amount
    from orders
    inner join {{ ref('int_as_of_periods') }} as periods
        on orders.ordered_at >= periods.period_start
        and orders.ordered_at < periods.as_of
    group by orders.customer_id, periods.as_of
),

cumulative as (
    select
        spine.customer_id,
        spine.as_of,
        cast(coalesce(sum(per_period.kept_orders), 0) as bigint) as frequency,
        coalesce(sum(per_period.kept_amount), 0) as monetary,
        min(per_period.first_order_at) as first_order_at,
        max(per_period.last_order_at) as last_order_at,
        max_by(per_period.last_order_gap_days, per_period.last_order_at) as last_order_gap_days,
        sum(per_period.gap_sum) / nullif(sum(per_period.gaps), 0) as mean_interpurchase_days,
        case when sum(per_period.gaps) > 1 then sqrt(greatest(
            (sum(per_period.gap_square_sum) - power(sum(per_period.gap_sum), 2) / sum(per_period.gaps))
                / (sum(per_period.gaps) - 1),
            0
        )) end as std_interpurchase_days,
        sum(per_period.items) / nullif(sum(per_period.orders_with_items), 0) as avg_items_per_order,
        sum(per_period.discount_amount) / nullif(sum(per_period.gross_amount), 0) as discount_share,
        sum(per_period.cancelled_orders) / nullif(sum(per_period.orders), 0) as cancel_rate,
        sum(per_period.returned_orders) / nullif(sum(per_period.orders), 0) as return_rate
    from {{ ref('int_customers_spined') }} as spine
    left join per_period
        on per_period.customer_id = spine.customer_id
        and per_period.period_end <= spine.as_of
    group by spine.customer_id, spine.as_of
),

gaps as (
    select
        orders.customer_id,
        dates.as_of,
        median(orders.days_since_previous_order) as median_interpurchase_days
    from orders
    inner join (select distinct as_of from {{ ref('int_as_of_dates') }}) as dates
        on orders.ordered_at < dates.as_of
    where orders.days_since_previous_order is not null
    group by orders.customer_id, dates.as_of
),

recent as (
    select
        orders.customer_id,
        periods.as_of,
        count(*) filter (where orders.ordered_at >= periods.last_30d_start) as orders_last_30d,
        count(*) filter (where orders.ordered_at < periods.last_30d_start) as orders_prev_30d,
        sum(orders.amount) filter (where orders.ordered_at >= periods.last_30d_start) as spend_last_30d,
        sum(orders.amount) filter (where orders.ordered_at < periods.last_30d_start) as spend_prev_30d
    from orders
    inner join {{ ref('int_as_of_periods') }} as periods
        on orders.ordered_at >= periods.prev_30d_start
        and orders.ordered_at < periods.as_of
    where orders.is_kept
    group by orders.customer_id, periods.as_of
)

select
    cumulative.*,
    gaps.median_interpurchase_days,
    coalesce(recent.orders_last_30d, 0) as orders_last_30d,
    coalesce(recent.orders_prev_30d, 0) as orders_prev_30d,
    coalesce(recent.spend_last_30d, 0) as spend_last_30d,
    coalesce(recent.spend_prev_30d, 0) as spend_prev_30d
from cumulative
left join gaps
    on gaps.customer_id = cumulative.customer_id
    and gaps.as_of = cumulative.as_of
left join recent
    on recent.customer_id = cumulative.customer_id
    and recent.as_of = cumulative.as_of
