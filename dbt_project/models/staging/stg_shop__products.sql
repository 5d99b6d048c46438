with source as (
    select * from {{ source('shop', 'products') }}
),

renamed as (
    select
        cast(product_id as varchar) as product_id,
        cast(product_name as varchar) as product_name,
        coalesce(lower(trim(cast(category as varchar))), 'unknown') as category,
        cast(price as double) as price
    from source
)

select * from renamed
qualify row_number() over (partition by product_id order by product_name) = 1
