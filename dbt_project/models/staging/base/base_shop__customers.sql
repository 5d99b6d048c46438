-- Raw customers, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'customers') }}
),

typed as (
    select
        cast(customer_id as string) as customer_id,
        -- Landed as a keyed hash (ml/data/pii.py): named for what it holds.
        cast(email as string) as email_hash,
        cast(country as string) as country,
        cast(age_band as string) as age_band,
        cast(income_band as string) as income_band,
        cast(household_type as string) as household_type,
        try_cast(signed_up_at as timestamp) as signed_up_at,
        signed_up_at as signed_up_at_raw,
        row_number() over (
            partition by cast(customer_id as string) order by try_cast(signed_up_at as timestamp) nulls last
        ) as key_occurrence
    from source
)

select
    typed.*,
    case
        when customer_id is null then 'missing_customer_id'
        when key_occurrence > 1 then 'duplicate_customer_id'
        {{ timestamp_rules('signed_up_at', required=false) }}
    end as broken_rule
from typed
