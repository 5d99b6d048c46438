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
    when {{ column }} > {{ utc_now() }} then 'future_{{ column }}'
    when {{ column }} < timestamp '{{ var("earliest_timestamp") }}' then '{{ column }}_before_1990'
{%- endmacro %}

{% macro number_rules(column, min_value=0) -%}
    when {{ column }}_raw is not null and {{ column }} is null then 'unparseable_{{ column }}'
    when {{ column }} < {{ min_value }} then 'negative_{{ column }}'
    when {{ column }} > {{ var('max_plausible_number') }} then 'implausible_{{ column }}'
{%- endmacro %}

{% macro orphan_rule(column, parent_relation, parent_column) -%}
    {#- Only when the parent table was exported at all: an orders-only shop has no orphans.
        The row's own column is qualified: every base model selects `from typed`. -#}
    when typed.{{ column }} is not null
        and exists (select 1 from {{ parent_relation }})
        and not exists (
            select 1 from {{ parent_relation }} as parent where parent.{{ parent_column }} = typed.{{ column }}
        )
        then 'orphan_{{ column }}'
{%- endmacro %}

{% macro utc_now() -%}
    {#- Naive UTC, like the raw timestamps. Compared with current_timestamp (WITH TIME ZONE)
        every row would be converted through the time zone first: ten times slower on events. -#}
    (current_timestamp at time zone 'UTC')
{%- endmacro %}
