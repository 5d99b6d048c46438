-- Raw coupon redemptions that broke a contract rule, with the rule. They never reach the features.
select {{ star_except(ref('base_shop__coupon_redemptions'), ['broken_rule']) }}, broken_rule as rule
from {{ ref('base_shop__coupon_redemptions') }}
where broken_rule is not null
