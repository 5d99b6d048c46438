-- The customer 360 as of the scoring date (CLM_AS_OF): one row per customer.
select {{ star_except(ref('int_customer_features_as_of'), ['purpose']) }}
from {{ ref('int_customer_features_as_of') }}
where purpose = 'scoring'
