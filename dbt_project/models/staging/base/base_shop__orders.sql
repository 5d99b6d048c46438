-- Raw orders, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'orders') }}
),

typed as (
    select
        cast(order_id as string) as order_id,
        cast(customer_id as string) as customer_id,
        try_cast(ordered_at as timestamp) as ordered_at,
        try_cast(amount as double) as amount,
        coalesce(lower(trim(cast(status as string))), 'completed') as status,
        ordered_at as ordered_at_raw,
        amount as amount_raw,
        row_number() over (
            partition by cast(order_id as string) order by try_cast(ordered_at as timestamp)
        ) as key_occurrence
    from source
)

select
    typed.*,
    case
        when order_id is null then 'missing_order_id'
        when customer_id is null then 'missing_customer_id'
        when key_occurrence > 1 then 'duplicate_order_id'
        {{ timestamp_rules('ordered_at') }}
        when amount is null and amount_raw is null then 'missing_amount'
        {{ number_rules('amount') }}
        {{ orphan_rule('customer_id') }}
    end as broken_rule
from typed
{{ parent_keys('customer_id', ref('base_shop__customers'), 'customer_id') }}
