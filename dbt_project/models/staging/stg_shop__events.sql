-- Clickstream events that keep every contract rule. Shops without a session id get one
-- session per customer and day.
select
    event_id,
    coalesce(session_id, customer_id || '-' || strftime(occurred_at, '%Y%m%d')) as session_id,
    customer_id,
    event_type,
    product_id,
    occurred_at
from {{ ref('base_shop__events') }}
where broken_rule is null
