with source as (
    select * from {{ source('shop', 'reviews') }}
),

renamed as (
    select
        cast(review_id as varchar) as review_id,
        cast(customer_id as varchar) as customer_id,
        cast(product_id as varchar) as product_id,
        cast(order_id as varchar) as order_id,
        cast(rating as double) as rating,
        cast(review_text as varchar) as review_text,
        cast(reviewed_at as timestamp) as reviewed_at
    from source
)

select * from renamed
