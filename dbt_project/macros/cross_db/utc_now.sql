{#- The current time as a naive UTC timestamp, like the raw timestamps. -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'clm')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    current_timestamp
{%- endmacro %}

{#- DuckDB's current_timestamp has a time zone: compared with it, every row would be converted
    through the zone first (ten times slower on events). -#}
{% macro duckdb__utc_now() -%}
    (current_timestamp at time zone 'UTC')
{%- endmacro %}

{#- The spark target's session time zone is UTC (profiles.yml). -#}
{% macro spark__utc_now() -%}
    current_timestamp()
{%- endmacro %}
