{#- The relation's columns but the named ones, in their order, as a select list (dbt-utils' star,
    without the package): the portable form of DuckDB's `select * exclude (...)`. While dbt parses,
    or where the relation is not there, it is `*`. -#}
{% macro star_except(relation, names) -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set excluded = names | map('lower') | list -%}
    {%- set kept = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) if column.name | lower not in excluded -%}
        {%- do kept.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
    {#- No columns: the relation is not there, as for `dbt docs generate` after a run (the
        in-memory scratch models are gone); nothing runs this SQL then. -#}
    {{ return(kept | join(', ') if kept else '*') }}
{%- endmacro %}
