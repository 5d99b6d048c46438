{{ config(materialized='view') }}
-- Raw clickstream, typed, with the first contract rule each row breaks (NULL when none).
-- Events may come from visitors the customer table does not hold yet, so only product ids
-- are checked for orphans. Event, session and customer ids keep the export's type: casting
-- every event's ids to text costs more than the rules, so customer_id becomes text after the
-- sums per period (int_events_aggregated_as_of), and ids on the quarantined rows only
-- (quarantine_events; docs/decisions/0012-feature-sums-per-period.md).
with source as (
    select * from {{ source('shop', 'events') }}
),

typed as (
    select
        event_id,
        session_id,
        customer_id,
        lower(trim(cast(event_type as string))) as event_type,
        cast(product_id as string) as product_id,
        try_cast(occurred_at as timestamp) as occurred_at,
        occurred_at as occurred_at_raw
    from source
)

select
    typed.*,
    case
        when customer_id is null then 'missing_customer_id'
        when event_type is null then 'missing_event_type'
        {{ timestamp_rules('occurred_at') }}
        {{ orphan_rule('product_id') }}
    end as broken_rule
from typed
{{ parent_keys('product_id', ref('stg_shop__products'), 'product_id') }}
