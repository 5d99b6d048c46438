-- Raw order_items rows that broke a contract rule, with the rule. They never reach the features.
select {{ star_except(ref('base_shop__order_items'), ['broken_rule', 'key_occurrence']) }}, broken_rule as rule
from {{ ref('base_shop__order_items') }}
where broken_rule is not null
