{#
  Value tier from a customer's percent rank among buyers (0 = lowest, 1 = highest): high for
  the top 20%, medium for the next 30%, low for the rest and for customers who never bought
  (NULL rank). The names are the var value_tiers, shared with the model's forecast tiers
  (ml/models/tiers.py VALUE_TIERS, which use the same cut points on forecast spend).
#}
{% macro value_tier(percent_rank) -%}
    {%- set low, medium, high = var('value_tiers') -%}
    case
        when {{ percent_rank }} >= 0.8 then '{{ high }}'
        when {{ percent_rank }} >= 0.5 then '{{ medium }}'
        else '{{ low }}'
    end
{%- endmacro %}
