-- Raw reviews, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'reviews') }}
),

typed as (
    select
        cast(review_id as string) as review_id,
        cast(customer_id as string) as customer_id,
        cast(product_id as string) as product_id,
        cast(order_id as string) as order_id,
        try_cast(rating as double) as rating,
        cast(review_text as string) as review_text,
        try_cast(reviewed_at as timestamp) as reviewed_at,
        rating as rating_raw,
        reviewed_at as reviewed_at_raw,
        row_number() over (partition by cast(review_id as string) order by try_cast(reviewed_at as timestamp)) as key_occurrence
    from source
)

select
    typed.*,
    case
        when customer_id is null then 'missing_customer_id'
        when review_id is not null and key_occurrence > 1 then 'duplicate_review_id'
        {{ timestamp_rules('reviewed_at') }}
        when rating_raw is not null and rating is null then 'unparseable_rating'
        when rating is null or rating < 1 or rating > 5 then 'rating_outside_1_to_5'
        {{ orphan_rule('customer_id') }}
    end as broken_rule
from typed
{{ parent_keys('customer_id', ref('base_shop__customers'), 'customer_id') }}
