{#- Select-list items that turn an array column into one row per element: the element as
    value_name and its place in the array as position_name (ascending; the base may differ
    between engines, so use it to order, not as a number). -#}
{% macro unnest_with_position(array, value_name, position_name) -%}
    {{ return(adapter.dispatch('unnest_with_position', 'clm')(array, value_name, position_name)) }}
{%- endmacro %}

{% macro default__unnest_with_position(array, value_name, position_name) -%}
    unnest({{ array }}) as {{ value_name }},
    generate_subscripts({{ array }}, 1) as {{ position_name }}
{%- endmacro %}

{% macro spark__unnest_with_position(array, value_name, position_name) -%}
    posexplode({{ array }}) as ({{ position_name }}, {{ value_name }})
{%- endmacro %}
