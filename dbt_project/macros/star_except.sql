{#- The relation's columns but the named ones, in their order, as a select list (dbt-utils' star,
    without the package): the portable form of DuckDB's `select * exclude (...)`. While dbt parses,
    before the relation exists, it is `*`. -#}
{% macro star_except(relation, names, prefix='') -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set excluded = names | map('lower') | list -%}
    {%- set kept = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) if column.name | lower not in excluded -%}
        {%- do kept.append(prefix ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- if not kept -%}
        {{ exceptions.raise_compiler_error("star_except found no columns in " ~ relation ~ " but " ~ names | join(', ')) }}
    {%- endif -%}
    {{ return(kept | join(', ')) }}
{%- endmacro %}
