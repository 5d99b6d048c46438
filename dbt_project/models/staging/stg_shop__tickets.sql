-- Support tickets that keep every contract rule.
select ticket_id, customer_id, created_at, text, intent
from {{ ref('base_shop__tickets') }}
where broken_rule is null
