-- Raw coupon redemptions, typed, with the first contract rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'coupon_redemptions') }}
),

typed as (
    select
        cast(customer_id as string) as customer_id,
        cast(coupon_id as string) as coupon_id,
        cast(campaign_id as string) as campaign_id,
        try_cast(redeemed_at as timestamp) as redeemed_at,
        redeemed_at as redeemed_at_raw
    from source
)

select
    typed.*,
    case
        when customer_id is null then 'missing_customer_id'
        {{ timestamp_rules('redeemed_at') }}
        {{ orphan_rule('customer_id') }}
    end as broken_rule
from typed
{{ parent_keys('customer_id', ref('base_shop__customers'), 'customer_id') }}
