-- Every risk band and value tier has a rule for any segment ('*'), so every customer matches
-- a rule; with the seed's uniqueness test, exactly one. Rows returned: the uncovered pairs.
with pairs as (
    select risk_band, value_tier
    from (
        {%- for band in var('risk_bands') %}
        select '{{ band }}' as risk_band{{ " union all" if not loop.last }}
        {%- endfor %}
    )
    cross join (
        {%- for tier in var('value_tiers') %}
        select '{{ tier }}' as value_tier{{ " union all" if not loop.last }}
        {%- endfor %}
    )
)

select pairs.*
from pairs
left join {{ ref('retention_rules') }} as rules
    on rules.risk_band = pairs.risk_band and rules.value_tier = pairs.value_tier and rules.rfm_segment = '*'
where rules.action is null
