-- Raw order lines, typed, with the first contract rule each row breaks (NULL when none).
-- Lines of quarantined orders are orphans too: they never reach the features.
with source as (
    select * from {{ source('shop', 'order_items') }}
),

typed as (
    select
        cast(order_item_id as string) as order_item_id,
        cast(order_id as string) as order_id,
        cast(product_id as string) as product_id,
        try_cast(quantity as integer) as quantity,
        try_cast(unit_price as double) as unit_price,
        try_cast(discount as double) as discount,
        quantity as quantity_raw,
        unit_price as unit_price_raw,
        discount as discount_raw,
        row_number() over (partition by cast(order_item_id as string) order by cast(order_id as string)) as key_occurrence
    from source
)

select
    typed.*,
    case
        when order_id is null then 'missing_order_id'
        when order_item_id is not null and key_occurrence > 1 then 'duplicate_order_item_id'
        {{ number_rules('quantity') }}
        -- A line of no units (a coupon applied on its own, say) buys nothing: not a purchase.
        when quantity = 0 then 'zero_quantity'
        {{ number_rules('unit_price') }}
        {{ number_rules('discount') }}
        {{ orphan_rule('order_id') }}
        {{ orphan_rule('product_id') }}
    end as broken_rule
from typed
{{ parent_keys('order_id', ref('stg_shop__orders'), 'order_id') }}
{{ parent_keys('product_id', ref('stg_shop__products'), 'product_id') }}
