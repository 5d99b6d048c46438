with source as (
    select * from {{ source('shop', 'order_items') }}
),

renamed as (
    select
        coalesce(cast(order_item_id as varchar), cast(order_id as varchar) || '-' || cast(row_number() over () as varchar))
            as order_item_id,
        cast(order_id as varchar) as order_id,
        cast(product_id as varchar) as product_id,
        coalesce(cast(quantity as integer), 1) as quantity,
        cast(unit_price as double) as unit_price,
        coalesce(cast(discount as double), 0) as discount
    from source
)

select * from renamed
qualify row_number() over (partition by order_item_id order by order_id) = 1
