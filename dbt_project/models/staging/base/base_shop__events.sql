{{ config(materialized='view') }}
-- Raw clickstream, typed, with the first contract rule each row breaks (NULL when none).
-- Events may come from visitors the customer table does not hold yet, so only product ids
-- are checked for orphans. The rules read the columns they need and the other ids are cast
-- to text after them: quarantine_events then casts only the rows it keeps, not 100M.
with source as (
    select * from {{ source('shop', 'events') }}
),

typed as (
    select
        event_id,
        session_id,
        customer_id,
        lower(trim(cast(event_type as varchar))) as event_type,
        cast(product_id as varchar) as product_id,
        try_cast(occurred_at as timestamp) as occurred_at,
        occurred_at as occurred_at_raw
    from source
),

checked as (
    select
        *,
        case
            when customer_id is null then 'missing_customer_id'
            when event_type is null then 'missing_event_type'
            {{ timestamp_rules('occurred_at') }}
            {{ orphan_rule('product_id', ref('stg_shop__products'), 'product_id') }}
        end as broken_rule
    from typed
)

select
    cast(event_id as varchar) as event_id,
    cast(session_id as varchar) as session_id,
    cast(customer_id as varchar) as customer_id,
    event_type,
    product_id,
    occurred_at,
    occurred_at_raw,
    broken_rule
from checked
