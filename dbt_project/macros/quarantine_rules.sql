{#
  Building blocks of the raw-row rules. Each base_shop__* model types its source with
  try_cast and names, in `broken_rule`, the first rule a row breaks (NULL when it breaks none).
  Staging keeps the rows with no broken rule; quarantine_* keeps the others, with the rule.
#}

{% macro timestamp_rules(column, required=true) -%}
    when {{ column }}_raw is not null and {{ column }} is null then 'unparseable_{{ column }}'
    {%- if required %}
    when {{ column }} is null then 'missing_{{ column }}'
    {%- endif %}
    when {{ column }} > {{ clm.utc_now() }} then 'future_{{ column }}'
    when {{ column }} < timestamp '{{ var("earliest_timestamp") }}' then '{{ column }}_before_1990'
{%- endmacro %}

{% macro number_rules(column, min_value=0) -%}
    when {{ column }}_raw is not null and {{ column }} is null then 'unparseable_{{ column }}'
    when {{ column }} < {{ min_value }} then 'negative_{{ column }}'
    when {{ column }} > {{ var('max_plausible_number') }} then 'implausible_{{ column }}'
{%- endmacro %}

{#- An orphan: a row whose parent key is not in the parent table. The base model joins
    parent_keys(column, ...) onto its typed rows first; orphan_rule(column) is the rule. -#}
{% macro parent_keys(column, parent_relation, parent_column) -%}
    left join (select distinct {{ parent_column }} as parent_key from {{ parent_relation }}) as {{ column }}_parent
        on {{ column }}_parent.parent_key = typed.{{ column }}
    {#- Only when the parent table was exported at all: an orders-only shop has no orphans. #}
    cross join (select count(*) > 0 as exported from {{ parent_relation }}) as {{ column }}_parents
{%- endmacro %}

{% macro orphan_rule(column) -%}
    when typed.{{ column }} is not null and {{ column }}_parents.exported and {{ column }}_parent.parent_key is null
        then 'orphan_{{ column }}'
{%- endmacro %}
