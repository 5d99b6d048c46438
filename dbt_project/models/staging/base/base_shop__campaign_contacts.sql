-- Raw campaign contacts (a campaign the shop sent a customer), typed, with the first contract
-- rule each row breaks (NULL when none).
with source as (
    select * from {{ source('shop', 'campaign_contacts') }}
),

typed as (
    select
        cast(customer_id as string) as customer_id,
        cast(campaign_id as string) as campaign_id,
        cast(campaign_type as string) as campaign_type,
        try_cast(contacted_at as timestamp) as contacted_at,
        contacted_at as contacted_at_raw,
        row_number() over (
            partition by cast(customer_id as string), cast(campaign_id as string)
            order by try_cast(contacted_at as timestamp)
        ) as key_occurrence
    from source
)

select
    typed.*,
    case
        when customer_id is null then 'missing_customer_id'
        when campaign_id is null then 'missing_campaign_id'
        when key_occurrence > 1 then 'duplicate_contact'
        {{ timestamp_rules('contacted_at') }}
        {{ orphan_rule('customer_id') }}
    end as broken_rule
from typed
{{ parent_keys('customer_id', ref('base_shop__customers'), 'customer_id') }}
