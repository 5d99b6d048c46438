-- Coupon redemptions that keep every contract rule.
select customer_id, coupon_id, campaign_id, redeemed_at
from {{ ref('base_shop__coupon_redemptions') }}
where broken_rule is null
