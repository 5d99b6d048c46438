-- The shop's own marketing per customer as of each date: campaigns that reached the customer
-- and coupons they redeemed, strictly before it. Small tables: joined to every date directly.
with touches as (
    select customer_id, contacted_at as touched_at, 'campaign' as kind from {{ ref('stg_shop__campaign_contacts') }}
    union all
    select customer_id, redeemed_at, 'coupon' from {{ ref('stg_shop__coupon_redemptions') }}
)

select
    spine.customer_id,
    spine.as_of,
    count(*) filter (where touches.kind = 'campaign') as campaigns_received,
    count(*) filter (where touches.kind = 'campaign' and touches.touched_at >= {{ dbt.dateadd('day', -30, 'spine.as_of') }})
        as campaigns_received_last_30d,
    count(*) filter (where touches.kind = 'coupon') as coupons_redeemed,
    count(*) filter (where touches.kind = 'coupon' and touches.touched_at >= {{ dbt.dateadd('day', -30, 'spine.as_of') }})
        as coupons_redeemed_last_30d
from {{ ref('int_customers_spined') }} as spine
inner join touches
    on touches.customer_id = spine.customer_id
    and touches.touched_at < spine.as_of
group by spine.customer_id, spine.as_of
