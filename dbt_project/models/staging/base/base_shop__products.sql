-- Raw products, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'products') }}
),

typed as (
    select
        cast(product_id as string) as product_id,
        cast(product_name as string) as product_name,
        cast(category as string) as category,
        try_cast(price as double) as price,
        price as price_raw,
        row_number() over (partition by cast(product_id as string) order by cast(product_name as string)) as key_occurrence
    from source
)

select
    typed.*,
    case
        when product_id is null then 'missing_product_id'
        when key_occurrence > 1 then 'duplicate_product_id'
        {{ number_rules('price') }}
    end as broken_rule
from typed
