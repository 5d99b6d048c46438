-- Campaign contacts that keep every contract rule: one row per customer and campaign.
select customer_id, campaign_id, campaign_type, contacted_at
from {{ ref('base_shop__campaign_contacts') }}
where broken_rule is null
