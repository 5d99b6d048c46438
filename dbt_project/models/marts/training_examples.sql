-- Features as of each past cutoff, stacked, with labels from the H days that follow.
-- Windows are half-open, [cutoff, cutoff + H days): features use everything strictly before
-- the cutoff, labels everything from it, so date-only order logs (CDNOW) lose no order.
{% set horizon = var('horizon_days') %}
with features as (
    select {{ star_except(ref('int_customer_features_as_of'), ['purpose']) }}
    from {{ ref('int_customer_features_as_of') }}
    where purpose = 'training'
),

labels as (
    -- Orders joined to the few cutoffs, not to every customer's features row.
    select
        orders.customer_id,
        cutoffs.as_of,
        count(*) as future_orders,
        sum(orders.amount) as future_spend,
        {{ clm.fractional_days('cast(cutoffs.as_of as timestamp)', 'min(orders.ordered_at)') }} as days_to_next_order
    from {{ ref('int_orders_enriched') }} as orders
    inner join {{ ref('int_as_of_dates') }} as cutoffs
        on orders.ordered_at >= cast(cutoffs.as_of as timestamp)
        and orders.ordered_at < {{ dbt.dateadd('day', horizon, 'cast(cutoffs.as_of as timestamp)') }}
    where cutoffs.purpose = 'training' and not orders.is_cancelled
    group by orders.customer_id, cutoffs.as_of
)

select
    features.*,
    {{ horizon }} as horizon_days,
    coalesce(labels.future_orders, 0) as future_orders,
    coalesce(labels.future_spend, 0) as future_spend,
    coalesce(labels.future_orders, 0) = 0 as churned,
    labels.days_to_next_order
from features
left join labels on labels.customer_id = features.customer_id and labels.as_of = features.as_of
