-- Clickstream events that keep every contract rule. Ids keep the export's type (see
-- base_shop__events); a missing session id means one session per customer and day.
select
    event_id,
    session_id,
    customer_id,
    event_type,
    product_id,
    occurred_at
from {{ ref('base_shop__events') }}
where broken_rule is null
