-- Raw events rows that broke a contract rule, with the rule. They never reach the features.
select
    cast(event_id as string) as event_id,
    cast(session_id as string) as session_id,
    cast(customer_id as string) as customer_id,
    event_type,
    product_id,
    occurred_at,
    occurred_at_raw,
    broken_rule as rule
from {{ ref('base_shop__events') }}
where broken_rule is not null
