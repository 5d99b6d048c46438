-- Features as of each past cutoff, stacked, with labels from the H days that follow.
-- Windows are half-open, [cutoff, cutoff + H days): features use everything strictly before
-- the cutoff, labels everything from it, so date-only order logs (CDNOW) lose no order.
{% set horizon = var('horizon_days') %}
with features as (
    select * exclude (purpose)
    from {{ ref('int_customer_features_as_of') }}
    where purpose = 'training'
),

labels as (
    select
        features.customer_id,
        features.as_of,
        count(orders.order_id) as future_orders,
        coalesce(sum(orders.amount), 0) as future_spend
    from features
    left join {{ ref('int_orders_enriched') }} as orders
        on orders.customer_id = features.customer_id
        and not orders.is_cancelled
        and orders.ordered_at >= cast(features.as_of as timestamp)
        and orders.ordered_at < cast(features.as_of as timestamp) + to_days({{ horizon }})
    group by features.customer_id, features.as_of
)

select
    features.*,
    {{ horizon }} as horizon_days,
    labels.future_orders,
    labels.future_spend,
    labels.future_orders = 0 as churned
from features
inner join labels on labels.customer_id = features.customer_id and labels.as_of = features.as_of
