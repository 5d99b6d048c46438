-- Customers that keep every contract rule, PII pseudonymised: the email becomes a hash and
-- names are dropped, so nothing downstream can leak them.
select
    customer_id,
    md5(lower(trim(email))) as email_hash,
    upper(trim(country)) as country,
    signed_up_at
from {{ ref('base_shop__customers') }}
where broken_rule is null
