-- Raw support tickets that broke a contract rule, with the rule. They never reach the features.
select {{ star_except(ref('base_shop__tickets'), ['broken_rule', 'key_occurrence']) }}, broken_rule as rule
from {{ ref('base_shop__tickets') }}
where broken_rule is not null
