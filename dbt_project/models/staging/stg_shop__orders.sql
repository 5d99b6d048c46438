with source as (
    select * from {{ source('shop', 'orders') }}
),

renamed as (
    select
        cast(order_id as varchar) as order_id,
        cast(customer_id as varchar) as customer_id,
        cast(ordered_at as timestamp) as ordered_at,
        cast(amount as double) as amount,
        coalesce(lower(trim(cast(status as varchar))), 'completed') as status
    from source
)

select * from renamed
qualify row_number() over (partition by order_id order by ordered_at) = 1
