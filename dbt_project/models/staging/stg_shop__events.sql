with source as (
    select * from {{ source('shop', 'events') }}
),

renamed as (
    select
        cast(event_id as varchar) as event_id,
        -- Shops without a session id get one session per customer and day.
        coalesce(
            cast(session_id as varchar),
            cast(customer_id as varchar) || '-' || strftime(cast(occurred_at as timestamp), '%Y%m%d')
        ) as session_id,
        cast(customer_id as varchar) as customer_id,
        lower(trim(cast(event_type as varchar))) as event_type,
        cast(product_id as varchar) as product_id,
        cast(occurred_at as timestamp) as occurred_at
    from source
)

select * from renamed
