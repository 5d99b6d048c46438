-- The shop's own marketing per customer as of each date: campaigns that reached the customer
-- and coupons they redeemed, strictly before it. Small tables: joined to every date directly.
with contacts as (
    select
        spine.customer_id,
        spine.as_of,
        count(*) as campaigns_received,
        count(*) filter (where contacts.contacted_at >= spine.as_of - interval 30 day) as campaigns_received_last_30d
    from {{ ref('int_customers_spined') }} as spine
    inner join {{ ref('stg_shop__campaign_contacts') }} as contacts
        on contacts.customer_id = spine.customer_id
        and contacts.contacted_at < spine.as_of
    group by spine.customer_id, spine.as_of
),

redemptions as (
    select
        spine.customer_id,
        spine.as_of,
        count(*) as coupons_redeemed,
        count(*) filter (where coupons.redeemed_at >= spine.as_of - interval 30 day) as coupons_redeemed_last_30d
    from {{ ref('int_customers_spined') }} as spine
    inner join {{ ref('stg_shop__coupon_redemptions') }} as coupons
        on coupons.customer_id = spine.customer_id
        and coupons.redeemed_at < spine.as_of
    group by spine.customer_id, spine.as_of
)

select
    coalesce(contacts.customer_id, redemptions.customer_id) as customer_id,
    coalesce(contacts.as_of, redemptions.as_of) as as_of,
    coalesce(contacts.campaigns_received, 0) as campaigns_received,
    coalesce(contacts.campaigns_received_last_30d, 0) as campaigns_received_last_30d,
    coalesce(redemptions.coupons_redeemed, 0) as coupons_redeemed,
    coalesce(redemptions.coupons_redeemed_last_30d, 0) as coupons_redeemed_last_30d
from contacts
full outer join redemptions
    on redemptions.customer_id = contacts.customer_id and redemptions.as_of = contacts.as_of
