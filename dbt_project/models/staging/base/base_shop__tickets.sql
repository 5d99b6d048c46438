-- Raw support tickets, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'tickets') }}
),

typed as (
    select
        cast(ticket_id as string) as ticket_id,
        cast(customer_id as string) as customer_id,
        try_cast(created_at as timestamp) as created_at,
        cast(text as string) as text,
        -- Help desks write labels their own way: case and spaces do not make a new intent.
        nullif(lower(trim(cast(intent as string))), '') as intent,
        created_at as created_at_raw,
        row_number() over (partition by cast(ticket_id as string) order by try_cast(created_at as timestamp)) as key_occurrence
    from source
)

select
    typed.*,
    case
        when ticket_id is null then 'missing_ticket_id'
        when customer_id is null then 'missing_customer_id'
        when key_occurrence > 1 then 'duplicate_ticket_id'
        {{ timestamp_rules('created_at') }}
        when text is null or trim(text) = '' then 'missing_text'
        when intent is not null and intent not in ('{{ var("ticket_intents") | join("', '") }}') then 'unknown_intent'
        {{ orphan_rule('customer_id') }}
    end as broken_rule
from typed
{{ parent_keys('customer_id', ref('base_shop__customers'), 'customer_id') }}
